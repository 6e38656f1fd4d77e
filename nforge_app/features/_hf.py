"""Load transformers models and their pre-processors from the Hugging Face hub or a local folder.

One function, :func:`load_hf_model`, for every extractor built on transformers: a hub id
(``meta-llama/Llama-3.2-3B``) or a local folder (a snapshot, or a tiny test model saved with
``save_pretrained``) go through the same code. Failures a user can meet (a gated repository, no
network and nothing cached, a broken download) become :class:`~nforge_app.errors.ModelUnavailableError`
with a message that says what to do, and that the offline ``nforge-lite`` model always works.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from nforge_app._device import resolve_device
from nforge_app.checks import check_in
from nforge_app.config import Settings
from nforge_app.errors import ModelUnavailableError, UserInputError

logger = logging.getLogger(__name__)

FEATURE_DTYPE_ENV = "NFORGE_FEATURE_DTYPE"
HF_KINDS = ("model", "tokenizer", "feature_extractor", "video_processor_config")
DTYPES = ("float32", "bfloat16", "float16", "auto")
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16",
                  "float": "float32"}

_LITE_HINT = "The offline model 'nforge-lite' needs no download and always works."
HUB_PROBE_TIMEOUT_S = 1.0
HUB_PROBE_TTL_S = 60.0
_TRUE = ("1", "true", "yes", "on")
_probes: dict[tuple[str, int], tuple[float, str | None]] = {}


def hub_offline_reason() -> str | None:
    """Why the Hugging Face hub cannot be reached now, or None when it can (checked up front, in about 1 s).

    ``HF_HUB_OFFLINE`` set, or no TCP connection to the hub's host (``HF_ENDPOINT``, default huggingface.co)
    within :data:`HUB_PROBE_TIMEOUT_S` (the answer is kept :data:`HUB_PROBE_TTL_S` seconds). Behind an HTTPS
    proxy the probe is skipped (the hub is assumed reachable). Callers then read only the local cache
    (``local_files_only``) instead of letting huggingface_hub retry for half a minute.
    """
    import socket
    import time
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    address = (endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443))
    now = time.monotonic()
    cached = _probes.get(address)
    if cached is not None and now - cached[0] < HUB_PROBE_TTL_S:
        return cached[1]
    try:
        socket.create_connection(address, timeout=HUB_PROBE_TIMEOUT_S).close()
        reason = None
    except OSError as error:
        reason = f"no network: {address[0]} cannot be reached ({type(error).__name__}: {error})"
    _probes[address] = (now, reason)
    return reason


def resolve_dtype(dtype, device: str, native_bf16_cpu: bool = False) -> str:
    """The name of the dtype a model is loaded in, from a name, a ``torch.dtype`` or None.

    ``None`` means float32 on CPU (deterministic; bf16 matmuls on CPU are slow and vary run to run) and
    bfloat16 on a GPU (float16 where the GPU has no bfloat16): the V-JEPA2 and w2v-BERT checkpoints are
    saved in float32, which would make video features several times slower. With ``native_bf16_cpu``
    (the TRIBE v2 extractors), None means bfloat16 on CPUs that multiply it natively (AVX512-BF16 or AMX,
    read from the CPU's flags) too; ``NFORGE_FEATURE_DTYPE`` then overrides the CPU choice. ``"auto"``
    keeps the dtype each checkpoint was saved in.
    """
    if dtype is None and device == "cpu" and native_bf16_cpu:
        from nforge_app._device import cpu_bf16_native

        dtype = os.environ.get(FEATURE_DTYPE_ENV, "").strip() or ("bfloat16" if cpu_bf16_native() else "float32")
    if dtype is None:
        if device == "cpu":
            return "float32"
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    name = str(dtype).strip().lower().removeprefix("torch.")
    name = _DTYPE_ALIASES.get(name, name)
    if name not in DTYPES:  # refused, naming the value as given and every accepted spelling
        check_in("dtype", dtype, (*DTYPES, *_DTYPE_ALIASES))
    return name


def _source(repo_or_dir: str | Path, settings: Settings) -> tuple[str, bool]:
    """``(what to pass to from_pretrained, is it a local folder)``."""
    text = str(repo_or_dir).strip()
    path = Path(text).expanduser()
    if path.is_dir():
        return str(path), True
    if settings.weights_dir is not None and (settings.weights_dir / text).is_dir():
        return str(settings.weights_dir / text), True
    looks_like_path = path.is_absolute() or text.startswith((".", "~")) or "\\" in text or text.count("/") > 1
    if looks_like_path:
        raise UserInputError(f"model folder {text!r} does not exist; give an existing folder saved with "
                             "save_pretrained, or a Hugging Face hub id such as 'facebook/w2v-bert-2.0'")
    return text, False


def _chain(err: BaseException):
    """The exception and everything it was raised from, outermost first."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _unavailable(err: Exception, source: str, is_local: bool, cache_dir: Path,
                 offline: str | None = None) -> ModelUnavailableError | None:
    """Translate a loading failure into a message for the user, or None when it is a bug to re-raise."""
    import httpx
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    if isinstance(err, (ImportError, UserInputError)):
        return None
    chain = list(_chain(err))
    if any(isinstance(e, GatedRepoError) for e in chain):
        return ModelUnavailableError(
            f"{source} is a gated model on the Hugging Face hub. Accept its terms at "
            f"https://huggingface.co/{source} with your account, then run `hf auth login` (or set the HF_TOKEN "
            f"environment variable to a token of that account) and try again. {_LITE_HINT}")
    if any(isinstance(e, RepositoryNotFoundError) for e in chain):
        return ModelUnavailableError(
            f"{source} was not found on the Hugging Face hub (or it is private and no token of an account "
            f"that can read it was given: run `hf auth login` or set HF_TOKEN). {_LITE_HINT}")
    offline = (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, httpx.TransportError)
    repo_cache = cache_dir / ("models--" + source.replace("/", "--"))
    # Some loaders swallow the hub's error; a repository with nothing in the cache was simply never fetched.
    if not is_local and (any(isinstance(e, offline) for e in chain) or not repo_cache.is_dir()):
        return ModelUnavailableError(
            f"{source} is not in the model cache ({cache_dir}) and the Hugging Face hub cannot be reached "
            f"({offline or 'no network, or HF_HUB_OFFLINE=1'}). Connect once so it downloads, or put a copy saved with "
            f"save_pretrained in a folder and give that folder. {_LITE_HINT}")
    broken = (OSError, ValueError, RuntimeError, EOFError)
    if any(isinstance(e, broken) or type(e).__name__ == "SafetensorError" for e in chain):
        where = source if is_local else f"{source} in the model cache {cache_dir}"
        fix = ("replace the folder with a complete copy" if is_local else
               f"delete {repo_cache} and load it again to re-download")
        return ModelUnavailableError(
            f"the files of {where} are incomplete or corrupt ({type(err).__name__}: {err}); {fix}. {_LITE_HINT}")
    return None


def load_hf_model(kind: str, repo_or_dir: str | Path, *, device: str = "cpu", dtype=None,
                  cache_dir: str | Path | None = None, token: str | None = None):
    """Load a transformers model or pre-processor from a hub id or a local folder.

    Parameters
    ----------
    kind : str
        ``"model"`` (``AutoModel``, moved to ``device`` in eval mode), ``"tokenizer"``
        (``AutoTokenizer``), ``"feature_extractor"`` (``AutoFeatureExtractor``) or
        ``"video_processor_config"`` (the video processor's settings as a dict; the extractors apply
        them with torch, so torchvision is not needed).
    repo_or_dir : str or Path
        A local folder saved with ``save_pretrained``, a hub id such as ``"facebook/w2v-bert-2.0"``, or a
        hub id found as a sub-folder of ``NFORGE_WEIGHTS_DIR`` (used before the hub).
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (models only).
    dtype : str, torch.dtype or None
        ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"auto"`` (or the torch dtype); None picks float32
        on CPU and bfloat16 (float16 without bf16) on GPU (models only).
    cache_dir : str, Path or None
        Hub cache folder; default ``<NFORGE_CACHE_DIR>/hub``.
    token : str or None
        Hugging Face token; default the ``HF_TOKEN`` environment variable, then the token stored by
        ``hf auth login``.

    Returns
    -------
    object
        The loaded model, tokenizer or feature extractor, or a dict of video processor settings.

    Raises
    ------
    ModelUnavailableError
        Gated repository without access, no network and nothing cached, or incomplete/corrupt files.
    UserInputError
        Unknown ``kind``, ``device`` or ``dtype``, or a folder that does not exist.
    """
    check_in("kind", kind, HF_KINDS)
    settings = Settings.from_env()
    source, is_local = _source(repo_or_dir, settings)
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else settings.cache_dir / "hub"
    hub = {} if is_local else {"cache_dir": str(cache_dir), "token": token or os.environ.get("HF_TOKEN") or None}
    offline = None if is_local else hub_offline_reason()
    if offline:  # the cache only: no half a minute of retries (and of huggingface_hub's log lines)
        hub["local_files_only"] = True
    if kind == "model":
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
    try:
        if kind == "model":
            return _load_model(source, device, dtype, hub)
        if kind == "tokenizer":
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(source, **hub)
        if kind == "feature_extractor":
            from transformers import AutoFeatureExtractor

            return AutoFeatureExtractor.from_pretrained(source, **hub)
        from transformers.video_processing_utils import BaseVideoProcessor

        settings_dict, _ = BaseVideoProcessor.get_video_processor_dict(source, **hub)
        return settings_dict
    except Exception as err:
        translated = _unavailable(err, source, is_local, cache_dir, offline)
        if translated is None:
            raise
        raise translated from err


def _load_model(source: str, device: str, dtype: str, hub: dict):
    import torch
    from transformers import AutoModel

    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    logger.info("loading %s (%s) on %s", source, dtype, device)
    model = AutoModel.from_pretrained(source, dtype=torch_dtype, **hub)
    return model.to(device).eval()
