"""Text2fMRI (Dixit 2026): predicted Algonauts 2025 parcel activity from the words of each TR.

A frozen causal language model (Qwen2.5-0.5B for the default variant) turns the text of each TR into one
feature vector (``nforge_app.features.lm_tr``); a small transformer head, conditioned on the subject, maps
the sequence of TR vectors to the 1000 Schaefer-2018 parcels (7-network order) of CNeuroMod subjects 1, 2, 3
and 5 (``nforge_app.models._text2fmri_net``). Output rows are BOLD volumes, one per TR of 1.49 s: the head
has no explicit haemodynamic shift, it learned the lag, so ``hrf_offset_s`` is 0 on a BOLD time axis.

Weights come from a variant's Hugging Face repository (``config.json`` and ``model.pt``), from a local
folder given as the variant, or from ``<NFORGE_WEIGHTS_DIR>/text2fmri/<repository name>/`` (the default
variant may also sit directly in ``<NFORGE_WEIGHTS_DIR>/text2fmri/``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from nforge_app._device import resolve_device
from nforge_app.checks import check_indices, check_subject
from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.features import FeatureExtractor, FeatureSet, ProgressFn, get_extractor, no_progress
from nforge_app.models._base import EncodingModel
from nforge_app.stimuli import Stimulus
from nforge_app.values import HiddenFeatures, ModelCard, Prediction

logger = logging.getLogger(__name__)

SUBJECTS = (1, 2, 3, 5)
VARIANTS = ("ShreyDixit/Text2fMRI-Qwen-2.5-0.5B", "ShreyDixit/Text2fMRI-Qwen-2.5-1.5B",
            "ShreyDixit/Text2fMRI-Qwen-2.5-3B")
COLLECTION = "ShreyDixit/text2fmri"
FILES = ("config.json", "model.pt")
_HOW_TO_GET = ("Run once with network access so the files are downloaded from the Hugging Face hub, or put "
               "config.json and model.pt in a folder and give it as the variant (or in "
               "NFORGE_WEIGHTS_DIR/text2fmri/<repository name>/). The offline 'nforge-lite' model always works.")


class Text2fMRIModel(EncodingModel):
    """Text2fMRI: per-TR text -> 1000 Schaefer parcels of CNeuroMod subjects 1, 2, 3, 5 (TR 1.49 s).

    Parameters
    ----------
    settings : Settings
        Where local weights live (``weights_dir``).
    variant : str, optional
        A hub repository id from ``list_variants()`` or a local folder with ``config.json`` and ``model.pt``;
        None means the default (Qwen-2.5-0.5B) variant.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``; the language model runs in float16 on CUDA.
    """

    weight_files = ("config.json", "model.pt")
    accepted_options: dict[str, str] = {}
    absent_modality = ("Text2fMRI reads text only: without text there is nothing to predict, so a stimulus "
                       "without words is refused rather than predicted from no input")
    card = ModelCard(
        model_id="text2fmri",
        name="Text2fMRI (Dixit 2026)",
        aliases=("fmri-cneuromod_algo2025-text2fmri",),
        modalities=("text",),
        space_id="schaefer1000",
        tr_s=1.49,
        hrf_offset_s=0.0,
        time_axis="bold",
        licence="see the model repository",
        weights=VARIANTS[0],
        subjects=SUBJECTS,
        default_subject=1,
        variants=VARIANTS,
        capabilities=frozenset({"attention", "adaptation"}),
        description=(
            "Predicts BOLD activity in the 1000 Schaefer-2018 parcels (Algonauts 2025 space; CNeuroMod subjects "
            "1, 2, 3, 5; TR 1.49 s) from the words spoken in each TR only. A frozen language model "
            "(Qwen2.5-0.5B by default) reads the whole transcript with one line per TR; its token states are "
            "averaged per TR and a small transformer over time, conditioned on the subject, maps them to the "
            "parcels. Trained on Friends and Movie10 transcripts; the haemodynamic lag is learned, so rows are "
            "BOLD time. Silent TRs still get a prediction from their context."
        ),
        citation=("Dixit, S. (2026). Text2fMRI: Brain Encoding Models using LLMs (Course Materials). Zenodo. "
                  "https://doi.org/10.5281/zenodo.18369862"),
    )

    @classmethod
    def list_variants(cls, online: bool | None = None) -> list[str]:
        """Hub repositories of the published variants, the default first.

        Parameters
        ----------
        online : bool, optional
            True asks the hub (the ``ShreyDixit/text2fmri`` collection and the author's Text2fMRI models);
            False gives the built-in list; None asks the hub unless ``HF_HUB_OFFLINE`` is set. Any failure to
            reach the hub gives the built-in list, so this never fails offline.
        """
        from huggingface_hub import constants

        if online is None:
            from nforge_app.features._hf import hub_offline_reason

            online = not constants.HF_HUB_OFFLINE and hub_offline_reason() is None
        if not online:
            return list(VARIANTS)
        try:
            from huggingface_hub import get_collection, list_models

            found = [item.item_id for item in get_collection(COLLECTION).items if item.item_type == "model"]
            found += [model.id for model in list_models(author="ShreyDixit", search="Text2fMRI")]
        except Exception as error:  # offline, hub down, collection renamed: the built-in list stands in
            logger.info("could not list Text2fMRI variants on the hub (%s); using the built-in list", error)
            return list(VARIANTS)
        found = list(dict.fromkeys(found))
        if not found:
            return list(VARIANTS)
        return sorted(found, key=lambda repo: (repo != VARIANTS[0], found.index(repo)))

    # --- weights -------------------------------------------------------------------------------------------

    @property
    def variant_id(self) -> str:
        """The variant asked for: a hub repository id or a local folder."""
        return self.variant or VARIANTS[0]

    def _local_folder(self) -> Path | None:
        """A local folder holding the variant's files, or None to use the hub."""
        given = Path(self.variant_id).expanduser()
        if given.is_dir():
            return given
        weights_dir = self.settings.weights_dir
        if weights_dir is None:
            return None
        root = Path(weights_dir) / self.card.model_id
        candidates = [root / self.variant_id.rsplit("/", 1)[-1]]
        if self.variant_id == VARIANTS[0]:
            candidates.append(root)
        return next((folder for folder in candidates if all((folder / name).is_file() for name in FILES)), None)

    def _file(self, name: str) -> Path:
        """Path of ``config.json`` or ``model.pt`` of the variant, downloading it from the hub if needed."""
        folder = self._local_folder()
        if folder is not None:
            if not (folder / name).is_file():
                raise ModelUnavailableError(f"the Text2fMRI folder {folder} has no {name}. {_HOW_TO_GET}")
            return folder / name
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", self.variant_id):
            raise UserInputError(f"Text2fMRI variant {self.variant_id!r} is neither a folder nor a hub repository "
                                 f"id; known variants: {', '.join(VARIANTS)}")
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        from nforge_app.features._hf import hub_offline_reason

        offline = hub_offline_reason()  # up front: offline, only the cache is read (no retries)
        try:
            return Path(hf_hub_download(self.variant_id, name, local_files_only=bool(offline)))
        except (OSError, EntryNotFoundError) as error:
            why = f"not in the cache and the hub cannot be reached: {offline}" if offline else type(error).__name__
            raise ModelUnavailableError(f"Text2fMRI weights {self.variant_id}/{name} are not available here "
                                        f"({why}). {_HOW_TO_GET}") from error

    def model_config(self):
        """The variant's ``Text2fMRIConfig`` (reads ``config.json`` once)."""
        if not hasattr(self, "config_"):
            from nforge_app.models._text2fmri_net import Text2fMRIConfig

            path = self._file("config.json")
            try:
                self.config_ = Text2fMRIConfig.from_json(path)
            except (ValueError, TypeError) as error:
                raise ModelUnavailableError(f"{path} is not a Text2fMRI config: {error}") from error
        return self.config_

    def load(self) -> None:
        """Read the config and load the head's weights (``torch.load(weights_only=True)``, strict)."""
        import torch

        from nforge_app.models._text2fmri_net import Text2fMRIHead, norm_convention, set_norm_convention

        config = self.model_config()
        path = self._file("model.pt")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for a damaged or non-tensor pickle
            raise ModelUnavailableError(f"{path} is not a readable weights file ({error}). {_HOW_TO_GET}") from error
        if not isinstance(state, dict):
            raise ModelUnavailableError(f"{path} holds a {type(state).__name__}, not a state dict")
        try:
            unit_offset = norm_convention(state)
        except ValueError as error:
            raise ModelUnavailableError(f"{path} cannot be read as a Text2fMRI head: {error}") from None
        logger.info("Text2fMRI %s: ScaleNorm scalars stored as %s", path,
                    "offsets from 1 (1 + g, x-transformers 2.x)" if unit_offset else "scales (g, x-transformers 1.x)")
        with torch.device("meta"):
            head = Text2fMRIHead(config)
        set_norm_convention(head, unit_offset)
        self.norm_convention_ = "1 + g" if unit_offset else "g"
        try:
            head.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as error:
            raise ModelUnavailableError(f"{path} does not fit the Text2fMRI head described by its config.json: "
                                        f"{error}") from error
        self.device_ = resolve_device(self.device)
        self.head_ = head.float().to(self.device_).eval()

    def extractors(self) -> list[FeatureExtractor]:
        """The per-TR language-model extractor named by the variant's ``config.json``."""
        if not hasattr(self, "extractor_"):
            config = self.model_config()
            self.extractor_ = get_extractor(
                "lm-per-tr",
                model=config.extractor_LLM, num_last_hidden_states=config.extractor_LLM_num_last_hidden_states,
                tr_s=config.tr, device=resolve_device(self.device))
        return [self.extractor_]

    # --- prediction ----------------------------------------------------------------------------------------

    @classmethod
    def subject_index(cls, subject) -> int:
        """Row of ``subject`` (1, 2, 3 or 5; ``"sub-01"`` style accepted; None means 1) in the head: 0..3."""
        return SUBJECTS.index(check_subject(cls.card.model_id, subject, SUBJECTS, cls.card.default_subject))

    def transform(self, features: FeatureSet, stimulus: Stimulus, subject=1,
                  progress: ProgressFn = no_progress) -> HiddenFeatures:
        """The head's last hidden features (its encoder after the final norm), one row per TR.

        Parameters
        ----------
        features : FeatureSet
            Holds the ``"text"`` features of ``extractors()``: float32 (1, hidden, T), one step per TR.
        stimulus : Stimulus
            The stimulus (for its source and word timing, kept in the metadata).
        subject : int or str
            1, 2, 3 or 5 (``"sub-01"`` style accepted); None means 1. The trunk depends on it: the subject's
            embedding joins every TR's features at the input.
        progress : callable
            Told when the encoder starts and ends.

        Returns
        -------
        HiddenFeatures
            float32 ``(T, transformer_dim)`` on BOLD time, ``times_s = arange(T) * tr``, for that subject.
        """
        import torch

        index = self.subject_index(subject)
        if not hasattr(self, "head_"):
            self.load()
        config = self.config_
        if "text" not in features.features:
            raise UserInputError("Text2fMRI reads text only, and this stimulus has none; give per-TR text, a "
                                 "transcript, or a clip with speech")
        array = features.features["text"]
        if array.shape[:2] != (1, config.extractor_LLM_feature_size):
            raise ValueError(f"text features of shape {array.shape} do not fit this head, which reads "
                             f"(1, {config.extractor_LLM_feature_size}, T) from {config.extractor_LLM}")
        progress(0.0, "text2fmri: encoding head")
        x = torch.as_tensor(np.ascontiguousarray(array[0].T), dtype=torch.float32, device=self.device_)[None]
        with torch.inference_mode():
            hidden = self.head_.hidden(x, torch.tensor([index], device=self.device_))
        progress(1.0, "text2fmri: encoder done")
        n_trs, width = array.shape[-1], config.transformer_dim
        return HiddenFeatures(
            data=hidden[0].float().cpu().numpy(), times_s=np.arange(n_trs) * config.tr, tr_s=config.tr,
            model_id=self.card.model_id, subject=str(SUBJECTS[index]),
            columns=tuple(f"hidden {i}" for i in range(width)), column_modalities=("text",) * width,
            hrf_offset_s=0.0, time_axis="bold",
            metadata={"variant": self.variant_id, "language_model": config.extractor_LLM,
                      "num_last_hidden_states": config.extractor_LLM_num_last_hidden_states,
                      "subject_index": index, "device": self.device_, "stimulus": stimulus.source,
                      "scalenorm": getattr(self, "norm_convention_", "1 + g"),
                      "word_timing": stimulus.word_timing, "absent_modality": self.absent_modality,
                      "hrf": "no explicit shift: the head learned the haemodynamic lag, rows are BOLD volumes"},
        )

    def readout(self, hidden: HiddenFeatures, subject=1, indices: np.ndarray | None = None,
                progress: ProgressFn = no_progress) -> Prediction:
        """The selected parcels of hidden features: the shared linear map plus the subject's bias.

        Parameters
        ----------
        hidden : HiddenFeatures
            From :meth:`transform` for the same subject.
        subject : int or str
            As in :meth:`transform`.
        indices : ndarray of int, optional
            Parcels to return (all 1000 when None).
        progress : callable
            Told when the readout ends.

        Returns
        -------
        Prediction
            ``(T, len(indices))`` on BOLD time, ``times_s = arange(T) * tr``, in ``"schaefer1000"``.
        """
        import torch

        index = self.subject_index(subject)
        if not hasattr(self, "head_"):
            self.load()
        self._check_hidden(hidden, self.config_.transformer_dim)
        if hidden.subject != str(SUBJECTS[index]):
            raise UserInputError(f"these hidden features were computed for subject {hidden.subject}, and the "
                                 f"Text2fMRI trunk depends on the subject; transform them for subject "
                                 f"{SUBJECTS[index]}")
        n_rois = self.config_.num_rois
        indices = check_indices(indices, n_rois, "parcel")
        indices = np.arange(n_rois) if indices is None else indices
        x = torch.as_tensor(hidden.data, device=self.device_)[None]
        with torch.inference_mode():
            out = self.head_.readout(x, torch.tensor([index], device=self.device_),
                                     torch.as_tensor(indices, device=self.device_))
        progress(1.0, "text2fmri: done")
        return Prediction(
            data=out[0].float().cpu().numpy(), times_s=hidden.times_s, tr_s=hidden.tr_s,
            space_id=self.card.space_id, indices=indices, model_id=self.card.model_id,
            subject=hidden.subject, hrf_offset_s=0.0, time_axis="bold", metadata=dict(hidden.metadata))
