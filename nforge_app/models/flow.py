"""The two-stage flow-matching fMRI encoder: the model and its checkpoints.

Stage 1 (:class:`~nforge_app.models._flow_net.MultiSubjectConvLinearEncoder`) maps feature streams on the
1.49-s TR grid to a deterministic "mean anchor" ``mu`` for subjects 1, 2, 3 and 5 (1000 Schaefer parcels).
Stage 2 (:class:`~nforge_app.models._flow_net.FlowMatchingDecoder`) learns an OT conditional flow from
Gaussian noise to BOLD, conditioned on ``mu`` and the subject; every call draws new samples, and
:class:`FlowMatchingModel` reports their mean and their spread per parcel and TR.

No trained release of this model is public: it runs from a local checkpoint that you train with
``nforge_app.analysis.train_stage1`` and ``train_stage2`` (in ``nforge_app/analysis/_flow_training.py``)
and write with :func:`save_checkpoint`.

Checkpoint format ``nforge-flow-v1``
------------------------------------
Each stage is one file written by ``torch.save`` of a dict::

    {"format": "nforge-flow-v1",
     "config": {...},        # plain str/int/float/list/dict/None only
     "state_dict": {...}}    # the module's tensors

and read back with ``torch.load(..., weights_only=True)``, so a checkpoint can hold no code.
``config["kind"]`` is ``"stage1"`` or ``"stage2"``; the other keys are the constructor arguments of that
module:

- stage 1: ``feature_dims`` (``{stream: D}``, in order; stream names are modalities, ``"text"``,
  ``"audio"``, ``"video"``, for use through :class:`FlowMatchingModel`), ``n_subjects`` (4), ``n_outputs``
  (1000), ``embed_dim`` (192), ``kernel_size`` (45), and ``extractors``: the NForge extractor ids the
  features were computed with, one per stream (e.g. ``["lite-text", "lite-audio"]``). A checkpoint must
  name its extractors: features of another model (the authors used InternVL3, Whisper, LLaMA 3.2,
  V-JEPA 2 ...) cannot be recomputed here, and only the lite extractors are available so far.
- stage 2: ``n_outputs``, ``n_subjects``, ``latent_dim`` (128), ``channels`` ([256, 256]),
  ``n_transformer_blocks`` (1), ``n_mid_blocks`` (2), ``n_heads`` (4), ``head_dim`` (64), ``dropout``
  (0.05), ``sigma_min`` (1e-4), ``recon_weight`` (0.1).

A model directory holds ``stage1_best.pt`` and ``stage2.pt`` (or ``stage2_epoch_N.pt`` files, of which the
highest ``N`` is used). The directory is ``<NFORGE_WEIGHTS_DIR>/flow-matching`` unless the model's
``variant`` names another directory (a path, or a folder name under ``NFORGE_WEIGHTS_DIR``). The authors'
own ``.pt`` files are not in this format and are refused with a message.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from nforge_app._device import resolve_device
from nforge_app.checks import check_indices, check_range, check_subject
from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.features import FeatureExtractor, FeatureSet, ProgressFn, n_steps, no_progress
from nforge_app.models._base import EncodingModel
from nforge_app.stimuli import Stimulus
from nforge_app.values import HiddenFeatures, ModelCard, Prediction

FORMAT = "nforge-flow-v1"
STAGE1_FILE = "stage1_best.pt"
STAGE2_FILE = "stage2.pt"
TR_S = 1.49
SUBJECTS = (1, 2, 3, 5)
N_PARCELS = 1000
_STAGE2_EPOCH = re.compile(r"stage2_epoch_(\d+)\.pt")


# ---------------------------------------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(module, path: str | Path, *, extractors: Sequence[str] | None = None) -> Path:
    """Write a stage-1 or stage-2 module in the ``nforge-flow-v1`` format (see the module docstring).

    Parameters
    ----------
    module : MultiSubjectConvLinearEncoder or FlowMatchingDecoder
        A module from ``nforge_app.analysis.train_stage1`` / ``train_stage2`` or :func:`load_checkpoint`.
    path : str or Path
        File to write (``stage1_best.pt``, ``stage2.pt`` or ``stage2_epoch_N.pt`` in a model directory).
    extractors : sequence of str, optional
        Extractor ids the stage-1 features came from, one per stream; stored as ``config["extractors"]``
        (replacing what the module carried).

    Returns
    -------
    Path
        The file written.
    """
    import torch

    from nforge_app._files import atomic_path

    config = copy.deepcopy(module.config)
    if extractors is not None:
        config["extractors"] = [str(e) for e in extractors]
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "config": config, "state_dict": state}, tmp)
    return path


def load_checkpoint(path: str | Path, device: str = "cpu"):
    """Read a file in the ``nforge-flow-v1`` format and rebuild its module, in eval mode on ``device``.

    Raises
    ------
    ModelUnavailableError
        The file is missing or not an ``nforge-flow-v1`` checkpoint.
    """
    import torch

    from nforge_app.models._flow_net import build_module

    path = Path(path)
    if not path.is_file():
        raise ModelUnavailableError(f"flow-matching checkpoint {path} does not exist. {_WHAT_IS_EXPECTED}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for foreign pickles
        raise ModelUnavailableError(f"{path} is not a readable {FORMAT} checkpoint ({error}). "
                                    f"{_WHAT_IS_EXPECTED}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelUnavailableError(f"{path} is not a {FORMAT} checkpoint (format: {found!r}). "
                                    f"{_WHAT_IS_EXPECTED}")
    config = payload["config"]
    try:
        module = build_module(config)
        module.load_state_dict(payload["state_dict"])
    except (ValueError, TypeError, RuntimeError) as error:
        raise ModelUnavailableError(f"{path}: config and weights do not fit ({error})") from error
    if "extractors" in config:
        module.config["extractors"] = list(config["extractors"])
    return module.to(device).eval()


def find_checkpoint_files(directory: str | Path) -> tuple[Path, Path]:
    """The stage-1 and stage-2 files of a model directory: ``stage1_best.pt`` and ``stage2.pt``, else the
    ``stage2_epoch_N.pt`` with the highest ``N``.

    Raises
    ------
    ModelUnavailableError
        When either is missing; the message names the expected files.
    """
    directory = Path(directory)
    stage1 = directory / STAGE1_FILE
    stage2 = directory / STAGE2_FILE
    if not stage2.is_file() and directory.is_dir():
        epochs = {int(m.group(1)): p for p in directory.iterdir() if (m := _STAGE2_EPOCH.fullmatch(p.name))}
        stage2 = epochs[max(epochs)] if epochs else stage2
    if not (stage1.is_file() and stage2.is_file()):
        raise ModelUnavailableError(f"the flow-matching encoder found no checkpoints in {directory}. "
                                    f"{_WHAT_IS_EXPECTED}")
    return stage1, stage2


_WHAT_IS_EXPECTED = (
    f"It needs a directory with {STAGE1_FILE} and {STAGE2_FILE} (or stage2_epoch_N.pt; the highest N is used), "
    f"each a {FORMAT} checkpoint (torch.save of {{'format', 'config', 'state_dict'}}, see "
    "nforge_app.models.flow), at <NFORGE_WEIGHTS_DIR>/flow-matching or at the path given as the variant. "
    "No trained release is public: train one with nforge_app.analysis.train_stage1 and train_stage2. "
    "The offline model 'nforge-lite' always works without downloads."
)


# ---------------------------------------------------------------------------------------------------------
# The encoding model


def resample_to_tr(array: np.ndarray, rate_hz: float, n_tr: int, tr_s: float = TR_S) -> np.ndarray:
    """Average features ``(L, D, T)`` at ``rate_hz`` into TR bins: float32 ``(n_tr, L * D)``.

    Step ``k`` (starting at ``k / rate_hz``) goes to TR ``floor(k / rate_hz / tr_s)``; a TR that receives
    no step (features slower than the TR) takes the step that covers its centre.
    """
    flat = np.asarray(array, dtype=np.float64).reshape(-1, array.shape[-1])
    n_feature_steps = flat.shape[1]
    bins = np.floor(np.arange(n_feature_steps) / rate_hz / tr_s + 1e-9).astype(np.int64)
    keep = bins < n_tr
    sums = np.zeros((n_tr, flat.shape[0]))
    np.add.at(sums, bins[keep], flat[:, keep].T)
    counts = np.bincount(bins[keep], minlength=n_tr)
    out = sums / np.maximum(counts, 1)[:, None]
    empty = np.flatnonzero(counts == 0)
    centre_steps = np.minimum(((empty + 0.5) * tr_s * rate_hz).astype(np.int64), n_feature_steps - 1)
    out[empty] = flat[:, centre_steps].T
    return out.astype(np.float32)


def extractors_for(extractor_ids: Sequence[str]) -> list[FeatureExtractor]:
    """Instances of the NForge extractors a checkpoint names (``config["extractors"]`` of stage 1).

    Raises
    ------
    ModelUnavailableError
        For an extractor NForge does not have (see ``nforge_app.features.list_extractor_ids``).
    """
    from nforge_app.features import get_extractor, list_extractor_ids

    available = list_extractor_ids()
    missing = [e for e in extractor_ids if e not in available]
    if missing:
        raise ModelUnavailableError(
            f"this flow-matching checkpoint was trained on features from {missing}, which NForge cannot compute; "
            f"available extractors: {available}. The offline model 'nforge-lite' always works.")
    return [get_extractor(e) for e in extractor_ids]


class FlowMatchingModel(EncodingModel):
    """The two-stage flow-matching encoder from a local ``nforge-flow-v1`` checkpoint.

    Options: ``n_samples`` (default 8) samples are drawn per prediction with ``n_steps`` (default 25) Euler
    steps, from noise seeded by ``seed`` (default 0; the same seed gives the same samples). The class card
    lists every modality a checkpoint may read; after :meth:`load` the instance's ``card`` lists the streams
    of the loaded checkpoint.
    """

    weight_files = ("stage1_best.pt", "stage2*.pt")
    absent_modality = ("a stream the stimulus lacks is left out of stage 1's mean of stream embeddings: the mean "
                       "runs over fewer streams")
    card = ModelCard(
        model_id="flow-matching",
        name="Two-stage flow-matching encoder",
        modalities=("text", "audio", "video"),
        space_id="schaefer1000",
        tr_s=TR_S,
        hrf_offset_s=0.0,
        time_axis="bold",
        licence="see the model card",
        weights="local checkpoint",
        subjects=SUBJECTS,
        default_subject=1,
        capabilities=frozenset({"attribution", "attention", "adaptation"}),
        description=(
            "A two-stage encoder of the Algonauts 2025 data (CNeuroMod subjects 1, 2, 3, 5; 1000 Schaefer "
            "parcels; TR 1.49 s). Stage 1 predicts a deterministic mean response from the stimulus features; "
            "stage 2, a conditional flow-matching model, draws samples of the BOLD response around it. The "
            "samples are stochastic: the map shows their mean and the spread shows how much they differ "
            "(a fixed seed makes a run repeatable). Needs a locally trained checkpoint; none is published."
        ),
    )

    _OPTIONS = {"n_samples": (8, 1), "n_steps": (25, 1), "seed": (0, 0)}
    accepted_options = {"n_samples": "samples drawn (default 8)", "n_steps": "Euler steps (default 25)",
                        "seed": "seed of the noise (default 0)"}

    def __init__(self, settings, variant: str | None = None, device: str = "cpu", **options) -> None:
        super().__init__(settings, variant, device, **options)
        values = {name: check_range(name, options.get(name, default), minimum, np.inf, integer=True)
                  for name, (default, minimum) in self._OPTIONS.items()}
        self.n_samples, self.n_steps, self.seed = values["n_samples"], values["n_steps"], values["seed"]

    def params(self) -> dict:
        """Variant and sampling options: all that changes the output besides the input."""
        return {"variant": self.variant, "n_samples": self.n_samples, "n_steps": self.n_steps, "seed": self.seed}

    def checkpoint_dir(self) -> Path:
        """The model directory: the ``variant`` path if given, else ``<weights_dir>/flow-matching``."""
        weights_dir = self.settings.weights_dir
        if self.variant:
            for candidate in (Path(self.variant).expanduser(), weights_dir and weights_dir / self.variant):
                if candidate and candidate.is_dir():
                    return candidate
            raise ModelUnavailableError(f"flow-matching variant {self.variant!r} is not a directory (nor one under "
                                        f"NFORGE_WEIGHTS_DIR). {_WHAT_IS_EXPECTED}")
        if weights_dir is None:
            raise ModelUnavailableError(f"NFORGE_WEIGHTS_DIR is not set. {_WHAT_IS_EXPECTED}")
        return weights_dir / self.card.model_id

    def load(self) -> None:
        """Load both stages and the extractors named by the checkpoint."""
        device = resolve_device(self.device)
        stage1_path, stage2_path = find_checkpoint_files(self.checkpoint_dir())
        stage1, stage2 = load_checkpoint(stage1_path, device), load_checkpoint(stage2_path, device)
        expected = {"n_subjects": len(SUBJECTS), "n_outputs": N_PARCELS}
        for path, module in ((stage1_path, stage1), (stage2_path, stage2)):
            if module.config["kind"] != ("stage1" if module is stage1 else "stage2"):
                raise ModelUnavailableError(f"{path} holds a {module.config['kind']} model")
            wrong = {k: module.config[k] for k, v in expected.items() if module.config[k] != v}
            if wrong:
                raise ModelUnavailableError(f"{path} has {wrong}; this model needs {expected}")
        streams = stage1.stream_names
        extractor_ids = stage1.config.get("extractors")
        if not extractor_ids or len(extractor_ids) != len(streams):
            raise ModelUnavailableError(f"{stage1_path} must name one extractor per feature stream {streams} in "
                                        f"config['extractors'] (got {extractor_ids!r}). {_WHAT_IS_EXPECTED}")
        extractors = extractors_for(extractor_ids)
        if [e.modality for e in extractors] != streams:
            raise ModelUnavailableError(f"{stage1_path}: streams {streams} do not match the modalities of the "
                                        f"extractors {extractor_ids}")
        self.stage1_, self.stage2_, self.extractors_ = stage1, stage2, extractors
        self.files_ = [str(stage1_path), str(stage2_path)]
        self.device_ = device
        self.card = replace(type(self).card, modalities=tuple(streams))

    def _require_loaded(self) -> None:
        if not hasattr(self, "stage1_"):
            self.load()

    def extractors(self) -> list[FeatureExtractor]:
        """The extractors the checkpoint was trained with (loads the checkpoint if needed)."""
        self._require_loaded()
        return list(self.extractors_)

    @classmethod
    def _subject_number(cls, subject) -> int:
        return check_subject(cls.card.model_id, subject, SUBJECTS, cls.card.default_subject)

    def transform(self, features: FeatureSet, stimulus: Stimulus, subject=None,
                  progress: ProgressFn = no_progress) -> HiddenFeatures:
        """Stage 1's trunk: the mean of the streams' embeddings, one row per TR of 1.49 s.

        Parameters
        ----------
        features : FeatureSet
            Features of the checkpoint's extractors; they are averaged into 1.49-s TRs. Streams the stimulus
            lacks are absent: left out of the mean (noted in the metadata).
        stimulus : Stimulus
            The stimulus (for its source).
        subject : optional
            Not used: the trunk is shared by the subjects.
        progress : callable
            Told when stage 1 starts.

        Returns
        -------
        HiddenFeatures
            float32 ``(ceil(duration_s / 1.49), embed_dim)`` on BOLD time.
        """
        import torch

        self._require_loaded()
        n_tr = n_steps(features.duration_s, 1.0 / TR_S)
        streams, missing = {}, []
        dims = self.stage1_.config["feature_dims"]
        for name, extractor in zip(self.stage1_.stream_names, self.extractors_, strict=True):
            if name not in features.features:
                missing.append(name)
                continue
            used = features.extractor_ids.get(name, extractor.extractor_id)
            if used != extractor.extractor_id:
                raise ValueError(f"{name} features come from {used!r}, but the checkpoint was trained on "
                                 f"{extractor.extractor_id!r}")
            array = resample_to_tr(features.features[name], features.rate_hz, n_tr)
            if array.shape[1] != dims[name]:
                raise ValueError(f"{name} features have {array.shape[1]} dimensions; the checkpoint expects "
                                 f"{dims[name]}")
            streams[name] = torch.as_tensor(array[None], device=self.device_)
        if not streams:
            raise UserInputError(f"this flow-matching checkpoint reads {', '.join(self.stage1_.stream_names)}; "
                                 f"the stimulus has none of them")
        progress(0.0, "flow-matching: stage 1")
        with torch.no_grad():
            embedding = self.stage1_.hidden(streams)[0].cpu().numpy()
        width = embedding.shape[1]
        source = next(iter(streams)) if len(streams) == 1 else "mixed"
        return HiddenFeatures(
            data=embedding, times_s=np.arange(n_tr) * TR_S, tr_s=TR_S, model_id=self.card.model_id, subject=None,
            columns=tuple(f"embedding {i}" for i in range(width)), column_modalities=(source,) * width,
            hrf_offset_s=0.0, time_axis="bold",
            metadata={"streams": list(streams), "missing_streams": missing, "absent_modality": self.absent_modality,
                      "extractors": {e.modality: e.extractor_id for e in self.extractors_},
                      "checkpoint": self.files_, "device": self.device_, "stimulus": stimulus.source})

    def readout(self, hidden: HiddenFeatures, subject=None, indices: np.ndarray | None = None,
                progress: ProgressFn = no_progress) -> Prediction:
        """Stage 1's decoders give the subject's anchor; stage 2 draws ``n_samples`` samples around it.

        Parameters
        ----------
        hidden : HiddenFeatures
            From :meth:`transform`.
        subject : int or str
            1, 2, 3 or 5 (``"sub-01"`` style accepted); None means 1.
        indices : ndarray of int, optional
            Parcels to return (all 1000 when None).
        progress : callable
            Called after every Euler step.

        Returns
        -------
        Prediction
            The mean of the samples, ``(ceil(duration_s / 1.49), len(indices))`` on BOLD time; ``spread`` is
            their standard deviation (None when ``n_samples`` is 1).
        """
        import torch

        self._require_loaded()
        number = self._subject_number(subject)
        self._check_hidden(hidden, self.stage1_.config["embed_dim"])
        indices = check_indices(indices, N_PARCELS, "parcel")
        indices = np.arange(N_PARCELS) if indices is None else indices
        subject_index = SUBJECTS.index(number)
        with torch.no_grad():
            embedding = torch.as_tensor(hidden.data[None], device=self.device_)
            mu = self.stage1_.readout(embedding)[:, subject_index].transpose(1, 2)  # (1, V, T)
        generator = torch.Generator().manual_seed(self.seed)
        subjects = torch.full((self.n_samples,), subject_index, dtype=torch.long, device=self.device_)
        samples = self.stage2_.sample(
            mu.expand(self.n_samples, -1, -1), subjects, self.n_steps, generator,
            on_step=lambda done, total: progress(done / total, f"flow-matching: Euler step {done}/{total}"))
        samples = samples.transpose(1, 2).cpu().numpy()[:, :, indices]  # (n_samples, T, len(indices))
        return Prediction(
            data=samples.mean(axis=0).astype(np.float32), times_s=hidden.times_s, tr_s=TR_S,
            space_id=self.card.space_id, indices=indices, model_id=self.card.model_id, subject=str(number),
            hrf_offset_s=0.0, time_axis="bold",
            spread=samples.std(axis=0).astype(np.float32) if self.n_samples > 1 else None,
            metadata={"stochastic": True, "n_samples": self.n_samples, "n_steps": self.n_steps, "seed": self.seed,
                      "spread": "standard deviation over samples", **hidden.metadata},
        )
