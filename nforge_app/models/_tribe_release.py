"""Reading a TRIBE v2 release safely: ``config.yaml``, ``best.ckpt``, the Hugging Face hub, extractor devices.

A release is a folder (or hub repository) with ``config.yaml``, the YAML dump of the training experiment,
and ``best.ckpt``, a torch file ``{"state_dict": {"model." + name: tensor}, "model_build_args": {...}}``.
Neither file can run code here: the YAML goes through :class:`ReleaseConfigLoader`, which knows exactly the
two Python tags a release uses, and the checkpoint through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import yaml

from nforge_app._device import resolve_device
from nforge_app.config import Settings
from nforge_app.errors import ModelUnavailableError, UserInputError

if TYPE_CHECKING:
    import torch

    from nforge_app.models._tribe_net import EncoderSpec, TribeEncoder

logger = logging.getLogger(__name__)

RELEASE_REPO = "facebook/tribev2"
MODEL_DIR_NAME = "tribe-v2"
CONFIG_NAME = "config.yaml"
CHECKPOINT_NAME = "best.ckpt"
STATE_PREFIX = "model."
LLAMA_URL = "https://huggingface.co/meta-llama/Llama-3.2-3B"
OFFLINE_HINT = "The offline `nforge-lite` model works without any download."
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PYTHON_TAG = "tag:yaml.org,2002:python/"
_DIFF_LIMIT = 8

# brain_model_config settings this engine implements: {dotted key: the one supported value}.
_SUPPORTED = {
    "combiner": None, "extractor_aggregation": "cat", "layer_aggregation": "cat", "linear_baseline": False,
    "time_pos_embedding": True, "subject_embedding": False, "temporal_smoothing": None,
    "projector.name": "Mlp", "projector.hidden_sizes": None, "encoder.name": "TransformerEncoder",
    "encoder.use_scalenorm": True, "encoder.use_rmsnorm": False, "encoder.rotary_pos_emb": True,
    "encoder.rotary_xpos": False, "encoder.rel_pos_bias": False, "encoder.alibi_pos_bias": False,
    "encoder.residual_attn": False, "encoder.scale_residual": True, "encoder.cross_attend": False,
    "encoder.causal": False,
}


# ---------------------------------------------------------------------------------------------------------
# config.yaml
class ReleaseConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus the two Python tags of a TRIBE v2 ``config.yaml``, turned into plain data.

    ``!!python/object/apply:collections.OrderedDict`` becomes a dict (from its list of pairs),
    ``!!python/object/apply:pathlib.PosixPath`` becomes a string; any other ``python/`` tag is refused.
    """


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}"


def _ordered_dict(loader: ReleaseConfigLoader, node: yaml.Node) -> dict:
    if not isinstance(node, yaml.SequenceNode) or len(node.value) != 1:
        raise UserInputError(f"{_where(node)}: an OrderedDict that is not a one-argument list of pairs")
    pairs = loader.construct_sequence(node.value[0], deep=True)
    if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
        raise UserInputError(f"{_where(node)}: an OrderedDict that holds something else than pairs")
    return {key: value for key, value in pairs}


def _posix_path(loader: ReleaseConfigLoader, node: yaml.Node) -> str:
    if not isinstance(node, yaml.SequenceNode):
        raise UserInputError(f"{_where(node)}: a PosixPath that is not a list of path parts")
    return str(PurePosixPath(*(str(part) for part in loader.construct_sequence(node, deep=True))))


def _refuse(loader: ReleaseConfigLoader, suffix: str, node: yaml.Node) -> None:
    raise UserInputError(f"{_where(node)}: the Python tag !!python/{suffix} ({_PYTHON_TAG}{suffix}) is refused; "
                         "only !!python/object/apply:collections.OrderedDict and !!python/object/apply:pathlib.PosixPath "
                         "are accepted, nothing that could run code")


ReleaseConfigLoader.add_constructor(f"{_PYTHON_TAG}object/apply:collections.OrderedDict", _ordered_dict)
ReleaseConfigLoader.add_constructor(f"{_PYTHON_TAG}object/apply:pathlib.PosixPath", _posix_path)
ReleaseConfigLoader.add_multi_constructor(_PYTHON_TAG, _refuse)


def load_config(path: str | Path) -> dict:
    """Parse a release's ``config.yaml`` with :class:`ReleaseConfigLoader`.

    Raises
    ------
    UserInputError
        For a Python tag other than the two a release uses, or a file that is not a YAML mapping.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as stream:
            config = yaml.load(stream, Loader=ReleaseConfigLoader)  # noqa: S506 - the loader is a SafeLoader
    except yaml.YAMLError as error:
        raise UserInputError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(config, dict):
        raise UserInputError(f"{path} does not hold a mapping (a TRIBE v2 config.yaml does)")
    return config


def _lookup(config: dict, dotted: str, default=None):
    value = config
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def spec_from_release(config: dict, build_args: dict) -> EncoderSpec:
    """The encoder sizes from ``config.yaml``'s ``brain_model_config`` and the checkpoint's build arguments.

    Raises
    ------
    UserInputError
        When the release uses an option this engine does not implement, or a size is missing.
    """
    from nforge_app.models._tribe_net import EncoderSpec

    brain = config.get("brain_model_config")
    if not isinstance(brain, dict):
        raise UserInputError("config.yaml has no brain_model_config section; is this a TRIBE v2 release?")
    for key, supported in _SUPPORTED.items():
        value = _lookup(brain, key, supported)
        if value != supported:
            raise UserInputError(f"this release sets brain_model_config.{key} = {value!r}; NForge implements "
                                 f"only {supported!r}")
    feature_dims = build_args.get("feature_dims")
    if not isinstance(feature_dims, dict) or not all(
            isinstance(dims, (tuple, list)) and len(dims) == 2 for dims in feature_dims.values()):
        raise UserInputError(f"model_build_args.feature_dims must map each modality to (layers, size); got "
                             f"{feature_dims!r}")
    sizes = {"hidden": brain.get("hidden"), "max_seq_len": brain.get("max_seq_len"),
             "low_rank": brain.get("low_rank_head"), "depth": _lookup(brain, "encoder.depth"),
             "heads": _lookup(brain, "encoder.heads"), "ff_mult": _lookup(brain, "encoder.ff_mult"),
             "n_outputs": build_args.get("n_outputs"), "n_output_timesteps": build_args.get("n_output_timesteps")}
    bad = {key: value for key, value in sizes.items() if not isinstance(value, int) or value < 1}
    if bad:
        raise UserInputError(f"the release lacks positive integer sizes for {bad}")
    try:
        return EncoderSpec(feature_dims={m: (int(d[0]), int(d[1])) for m, d in feature_dims.items()}, **sizes)
    except ValueError as error:
        raise UserInputError(f"the release describes an impossible encoder: {error}") from None


def window_from_config(config: dict) -> tuple[float, float]:
    """``(window_s, feature_rate_hz)``: the length of one encoder window and the feature rate (100 s, 2 Hz)."""
    data = config.get("data") or {}
    duration_trs = data.get("duration_trs", 100)
    rate_hz = float(data.get("frequency", 2.0))
    tr_s = 1.0 / float(_lookup(data, "neuro.frequency", 1.0))
    return float(duration_trs) * tr_s, rate_hz


def extractor_config(config: dict, device: str) -> dict:
    """A copy of ``config`` whose feature extractors run on ``device``, whatever the release pinned.

    The released config pins its extractors to ``cuda``; the user's device choice wins, and each change is
    logged.
    """
    config = copy.deepcopy(config)
    data = config.get("data") or {}
    for name, section in data.items():
        if not (name.endswith("_feature") and isinstance(section, dict)):
            continue
        for holder in (section, section.get("image")):
            if isinstance(holder, dict) and "device" in holder:
                if str(holder["device"]) != device:
                    logger.info("TRIBE v2 config pins the %s extractor to %r; running it on %r as asked",
                                name, holder["device"], device)
                holder["device"] = device
    return config


# ---------------------------------------------------------------------------------------------------------
# best.ckpt
def _damaged(path: Path, error: BaseException) -> ModelUnavailableError:
    first_sentence = (str(error).strip().splitlines() or [""])[0].split(". ")[0]
    return ModelUnavailableError(
        f"{path} could not be read ({type(error).__name__}: {first_sentence}): the file is damaged or incomplete, "
        f"for example an interrupted download. Delete it and load the model again to get a fresh copy. {OFFLINE_HINT}")


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read ``best.ckpt`` safely: ``(state dict without the "model." prefix, model_build_args)``.

    Uses ``torch.load(weights_only=True, map_location="cpu")``, memory-mapped for the zip format (legacy
    files are read without ``mmap``).

    Raises
    ------
    ModelUnavailableError
        For a file holding pickled Python objects (refused, never run), a damaged file, or a file that
        is not a TRIBE v2 checkpoint.
    """
    import torch

    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as error:
        if "weights only" not in str(error).lower():
            raise _damaged(path, error) from None
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        raise ModelUnavailableError(
            f"{path} holds pickled Python objects besides tensors ({found.group(1) if found else 'refused'})"
            "; NForge reads checkpoints with torch.load(weights_only=True) and never runs code from a weights "
            f"file. Use the official release files. {OFFLINE_HINT}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise _damaged(path, error) from None
    if not (isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict)
            and isinstance(checkpoint.get("model_build_args"), dict)):
        keys = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ModelUnavailableError(f"{path} is not a TRIBE v2 checkpoint: expected the keys 'state_dict' and "
                                    f"'model_build_args', found {keys}. {OFFLINE_HINT}")
    state_dict = {key.removeprefix(STATE_PREFIX): value for key, value in checkpoint["state_dict"].items()}
    return state_dict, checkpoint["model_build_args"]


def state_dict_diff(expected: dict[str, tuple], found: dict[str, torch.Tensor], limit: int = _DIFF_LIMIT) -> str:
    """Describe how ``found`` differs from the ``expected`` {name: shape}; empty when they match."""
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    shapes = [f"{key} (checkpoint {tuple(found[key].shape)}, model {tuple(expected[key])})"
              for key in expected if key in found and tuple(found[key].shape) != tuple(expected[key])]
    parts = []
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
        if items:
            more = f", ... and {len(items) - limit} more" if len(items) > limit else ""
            parts.append(f"{title} ({len(items)}): {', '.join(items[:limit])}{more}")
    return "; ".join(parts)


def load_release(config_path: str | Path, checkpoint_path: str | Path, device: str = "cpu",
                 fast: bool | None = None, precision: str | None = None) -> tuple[TribeEncoder, dict]:
    """Build the encoder a release describes and load its weights strictly: ``(encoder, config)``."""
    from nforge_app.models._tribe_net import TribeEncoder, resolve_precision

    config = load_config(config_path)
    state_dict, build_args = load_checkpoint(checkpoint_path)
    spec = spec_from_release(config, build_args)
    encoder = TribeEncoder(spec, device="meta")
    expected = {key: tuple(value.shape) for key, value in encoder.state_dict().items()}
    diff = state_dict_diff(expected, state_dict)
    if diff:
        raise ModelUnavailableError(f"{checkpoint_path} does not match the encoder its config.yaml describes: "
                                    f"{diff}. {OFFLINE_HINT}")
    encoder.load_state_dict(state_dict, strict=True, assign=True)
    device = resolve_device(device) if device == "auto" else device
    encoder.requires_grad_(False).eval().to(device)
    encoder.default_precision = resolve_precision(precision if precision is not None else fast, device)
    return encoder, config


def load_encoder(path: str | Path, device: str = "cpu", fast: bool | None = None,
                 precision: str | None = None) -> TribeEncoder:
    """Load the encoder of a local TRIBE v2 release folder (``config.yaml`` + ``best.ckpt``).

    Parameters
    ----------
    path : str or Path
        The release folder.
    device : str
        ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"``.
    fast : bool, optional
        Older switch: True is ``precision="fast"``, False ``"fp32"``.
    precision : str, optional
        ``"fp32"`` (exact, the default), ``"bf16"``, ``"int8"`` (CPUs with AVX512-VNNI or AMX) or ``"fast"``
        (int8 where available, else bf16); None reads ``NFORGE_TRIBE_PRECISION``, else fp32. The fast paths
        are not exact: see the README for their measured error, and
        ``nforge_app.models._tribe_net.resolve_precision``.

    Returns
    -------
    TribeEncoder
        Call it with ``{modality: (B, L, D, T)}`` and ``pool_outputs``; it returns (B, n_outputs, T_out).

    Raises
    ------
    ModelUnavailableError
        When the folder lacks a file, or the checkpoint is damaged, unsafe or does not match the config.
    UserInputError
        When ``config.yaml`` holds a refused Python tag or an option this engine does not implement.
    """
    config_path, checkpoint_path = _local_files(Path(path).expanduser())
    return load_release(config_path, checkpoint_path, device, fast, precision)[0]


# ---------------------------------------------------------------------------------------------------------
# where a release comes from
def _local_files(folder: Path) -> tuple[Path, Path]:
    if not folder.is_dir():
        raise ModelUnavailableError(f"no TRIBE v2 release folder at {folder}. {OFFLINE_HINT}")
    files = folder / CONFIG_NAME, folder / CHECKPOINT_NAME
    missing = [file.name for file in files if not file.is_file()]
    if missing:
        raise ModelUnavailableError(f"{folder} is not a TRIBE v2 release: {' and '.join(missing)} missing (a release "
                                    f"folder holds {CONFIG_NAME} and {CHECKPOINT_NAME}). {OFFLINE_HINT}")
    return files


def release_files(repo_or_dir: str | Path = RELEASE_REPO, cache_dir: str | Path | None = None,
                  token: str | None = None, settings: Settings | None = None) -> tuple[Path, Path]:
    """Find or download a release: ``(config.yaml path, best.ckpt path)``.

    A local folder is used as it is. For the default repository, ``<NFORGE_WEIGHTS_DIR>/tribe-v2`` is used
    when it holds a release. Otherwise both files are fetched with ``huggingface_hub.hf_hub_download`` into
    ``cache_dir`` (default ``<cache_dir>/hub`` of the settings), with ``token`` or ``HF_TOKEN`` (or the
    token saved by ``hf auth login``).

    Raises
    ------
    ModelUnavailableError
        Gated repository without access, no network and nothing cached, missing repository or files,
        damaged download. Every message says what to do and that ``nforge-lite`` works offline.
    """
    settings = settings or Settings.from_env()
    folder = Path(repo_or_dir).expanduser()
    if folder.is_dir():
        return _local_files(folder)
    repo_id = str(repo_or_dir)
    if not _REPO_ID.match(repo_id):
        raise ModelUnavailableError(f"{repo_id!r} is neither a release folder on this machine nor a Hugging Face "
                                    f"repository id like {RELEASE_REPO!r}. {OFFLINE_HINT}")
    local = settings.weights_dir / MODEL_DIR_NAME if settings.weights_dir else None
    if repo_id == RELEASE_REPO and local is not None and (local / CHECKPOINT_NAME).is_file():
        return _local_files(local)
    return _download(repo_id, Path(cache_dir) if cache_dir else settings.cache_dir / "hub",
                     token or os.environ.get("HF_TOKEN") or None)


def _download(repo_id: str, cache_dir: Path, token: str | None) -> tuple[Path, Path]:
    import huggingface_hub
    from huggingface_hub import errors

    from nforge_app.features._hf import hub_offline_reason

    where = f"put {CONFIG_NAME} and {CHECKPOINT_NAME} in <NFORGE_WEIGHTS_DIR>/{MODEL_DIR_NAME}"
    offline = hub_offline_reason()  # up front: offline, only the cache is read (no retries)
    try:
        return tuple(Path(huggingface_hub.hf_hub_download(repo_id, name, cache_dir=str(cache_dir), token=token,
                                                          local_files_only=bool(offline)))
                     for name in (CONFIG_NAME, CHECKPOINT_NAME))
    except errors.GatedRepoError:
        message = (f"{repo_id} is gated and this Hugging Face account has no access yet: accept its terms at "
                   f"https://huggingface.co/{repo_id}, then log in with `hf auth login` (or set HF_TOKEN). TRIBE v2 "
                   f"also reads Llama-3.2-3B, which needs its own accepted terms at {LLAMA_URL}.")
    except errors.RepositoryNotFoundError:
        message = (f"the Hugging Face repository {repo_id} does not exist or is private to another account; "
                   f"check the name (default {RELEASE_REPO}) and `hf auth login`.")
    except errors.LocalEntryNotFoundError:
        message = (f"cannot reach the Hugging Face hub ({offline or 'no network, or HF_HUB_OFFLINE=1'}) and {repo_id} is not "
                   f"cached in {cache_dir}; connect once to download it, or {where}.")
    except errors.EntryNotFoundError:
        message = (f"{repo_id} has no {CONFIG_NAME} or {CHECKPOINT_NAME}; it is not a TRIBE v2 release "
                   f"(default {RELEASE_REPO}).")
    except OSError as error:
        if "consistency check failed" in str(error).lower():
            message = (f"the download of {repo_id} was damaged (the file size does not match): {error}. Load the "
                       "model again to download a fresh copy.")
        else:
            message = (f"downloading {repo_id} failed ({type(error).__name__}: {error}); check the network, or "
                       f"{where}.")
    raise ModelUnavailableError(f"{message} {OFFLINE_HINT}")


def from_pretrained(repo_or_dir: str | Path = RELEASE_REPO, cache_dir: str | Path | None = None,
                    token: str | None = None, device: str = "cpu", fast: bool | None = None,
                    precision: str | None = None) -> TribeEncoder:
    """Load the TRIBE v2 encoder from a local release folder or a Hugging Face repository.

    Parameters
    ----------
    repo_or_dir : str or Path
        A folder with ``config.yaml`` and ``best.ckpt``, or a hub repository id (default
        ``"facebook/tribev2"``; ``<NFORGE_WEIGHTS_DIR>/tribe-v2`` is used first when it holds a release).
    cache_dir : str or Path, optional
        Hub cache folder (default ``<NFORGE_CACHE_DIR>/hub``).
    token : str, optional
        Hugging Face token (default ``HF_TOKEN``, then the token saved by ``hf auth login``).
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    fast, precision : optional
        As in :func:`load_encoder` (float32 by default).

    Returns
    -------
    TribeEncoder

    Raises
    ------
    ModelUnavailableError
        When the release cannot be had; the message says why and what to do.
    """
    config_path, checkpoint_path = release_files(repo_or_dir, cache_dir, token)
    return load_release(config_path, checkpoint_path, device, fast, precision)[0]
