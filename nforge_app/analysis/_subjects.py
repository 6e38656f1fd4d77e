"""Adapted subjects: a ridge readout fitted on a model's hidden features, and the store that keeps them.

A subject fitted by :func:`~nforge_app.analysis.adapt` is an affine map of the model's hidden features
(:class:`~nforge_app.values.HiddenFeatures`), ``((hidden - mean) / scale) @ weights + intercept``, over the
outputs it was fitted on. It is kept under the cache, one folder per model and name::

    <NFORGE_CACHE_DIR>/subjects/<model id>/<name>/subject.npz   plain arrays (read with allow_pickle=False)
                                                 /card.json     what it is: training stimuli, time points,
                                                                alphas, held-out r, its content hash

The folder is written beside its place and renamed into it, so a subject is whole or absent. Its content
hash (of the arrays) is part of the engine's prediction keys, so refitting a subject under the same name never
serves a stale prediction. numpy and the standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nforge_app.checks import check_subject
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.values import Evaluation, HiddenFeatures, Prediction

SUBJECTS_FOLDER = "subjects"
ARRAYS_FILE, CARD_FILE = "subject.npz", "card.json"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")
_ARRAYS = ("indices", "mean", "scale", "weights", "intercept", "alphas", "held_out_r")


def check_subject_name(name, model_id: str = "", subjects: Collection = ()) -> str:
    """``name`` if it can name an adapted subject: a letter, then up to 39 letters, digits, ``_`` or ``-`` (no
    path characters), and not one of the model's own subjects; else ``UserInputError``."""
    text = name.strip() if isinstance(name, str) else ""
    if not _NAME.fullmatch(text):
        raise UserInputError(f"subject name {name!r}: accepted: a letter, then up to 39 letters, digits, _ or - "
                             "(no spaces, dots or slashes), e.g. sub-me or mine_2")
    taken = None
    try:
        taken = check_subject(model_id, text, subjects) if subjects else None
    except UserInputError:
        pass
    if taken is not None:
        raise UserInputError(f"subject name {name!r} is {model_id}'s own subject {taken!r}; choose another name")
    return text


@dataclass(frozen=True, eq=False)
class AdaptedSubject:
    """A subject fitted by ridge regression on a model's hidden features (see the module docstring).

    Attributes
    ----------
    name, model_id, space_id : str
        Its name, the model whose hidden features it reads, and the output space.
    indices : ndarray of int64 (V,)
        The outputs of the space it predicts.
    columns, column_modalities : tuple of str (H,)
        The hidden columns it reads (as :class:`~nforge_app.values.HiddenFeatures` names them).
    mean, scale : ndarray, float64 (H,)
        Standardisation of the hidden columns, from the training time points.
    weights : ndarray, float32 (H, V)
        Ridge weights on the standardised columns.
    intercept : ndarray, float32 (V,)
    alphas : ndarray, float64 (V,)
        The regularisation chosen by cross-validation for each output.
    held_out_r : ndarray, float64 (V,)
        Pearson r on the run left out of the fit (NaN where a series is constant).
    card : dict
        JSON facts: training stimuli and runs, time points, held-out run, mean r (adapted and the model's
        default subject), alpha range, per-modality importance, CV scheme, trunk subject, time axis, notes.
    evaluation, default_evaluation : Evaluation or None
        The held-out run scored for the adapted subject and for the model's default subject (only on the
        value :func:`~nforge_app.analysis.adapt` returns; a loaded subject keeps the numbers in ``card``).
    """

    name: str
    model_id: str
    space_id: str
    indices: np.ndarray
    columns: tuple[str, ...]
    column_modalities: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: np.ndarray
    alphas: np.ndarray
    held_out_r: np.ndarray
    card: dict = field(default_factory=dict)
    evaluation: Evaluation | None = None
    default_evaluation: Evaluation | None = None

    def __post_init__(self) -> None:
        h, v = len(self.columns), len(self.indices)
        if self.weights.shape != (h, v) or self.mean.shape != (h,) or self.scale.shape != (h,):
            raise ValueError(f"weights {self.weights.shape}, mean {self.mean.shape}, scale {self.scale.shape} for "
                             f"{h} columns and {v} outputs")
        if not self.intercept.shape == self.alphas.shape == self.held_out_r.shape == (v,):
            raise ValueError("intercept, alphas and held_out_r must have one value per output")

    @property
    def content_hash(self) -> str:
        """sha256 of what the readout computes with (arrays, columns, model): part of prediction keys."""
        digest = hashlib.sha256(json.dumps([self.name, self.model_id, self.space_id, list(self.columns)]).encode())
        for key in ("indices", "mean", "scale", "weights", "intercept"):
            array = np.ascontiguousarray(getattr(self, key))
            digest.update(f"{key}{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    @property
    def full_card(self) -> dict:
        """``card`` with who it is: name, model, space, number of outputs and content hash (as saved)."""
        return {**self.card, "name": self.name, "model_id": self.model_id, "space_id": self.space_id,
                "n_outputs": len(self.indices), "content_hash": self.content_hash}

    @property
    def trunk_subject(self):
        """The model subject whose hidden features it reads (Text2fMRI's trunk depends on it); None otherwise."""
        return self.card.get("trunk_subject")

    def readout(self, hidden: HiddenFeatures, indices: np.ndarray | None = None) -> Prediction:
        """The adapted subject's prediction from hidden features of its model.

        Parameters
        ----------
        hidden : HiddenFeatures
            ``EncodingModel.transform`` of the subject's model (its columns, in any order).
        indices : ndarray of int, optional
            Outputs of the space to predict, among those it was fitted on (all of them when None).

        Returns
        -------
        Prediction
            float32 (T, V) on the hidden features' time axis, ``subject`` = the name.
        """
        if hidden.model_id != self.model_id or not set(self.columns) <= set(hidden.columns):
            raise UserInputError(f"adapted subject {self.name!r} reads {self.model_id}'s hidden columns "
                                 f"({', '.join(self.columns[:4])}...); these come from {hidden.model_id} with "
                                 f"{', '.join(hidden.columns[:4])}... (a modality it was fitted with is missing?)")
        columns = self._columns(indices)
        order = [hidden.columns.index(name) for name in self.columns]
        x = (np.asarray(hidden.data, dtype=np.float64)[:, order] - self.mean) / self.scale
        data = (x @ self.weights[:, columns].astype(np.float64) + self.intercept[columns]).astype(np.float32)
        return Prediction(
            data=data, times_s=hidden.times_s, tr_s=hidden.tr_s, space_id=self.space_id,
            indices=self.indices[columns], model_id=self.model_id, subject=self.name,
            hrf_offset_s=hidden.hrf_offset_s, time_axis=hidden.time_axis,
            metadata={**hidden.metadata, "adapted_subject": {
                "name": self.name, "content_hash": self.content_hash,
                "held_out_mean_r": self.card.get("held_out_mean_r"),
                "units": "standard deviations of the subject's measured response (z-scored per run)"}})

    def predict(self, model, features, stimulus, indices: np.ndarray | None = None, progress=None) -> Prediction:
        """``readout`` of ``model.transform`` (the engine's path for ``subject=<adapted name>``)."""
        hidden = model.transform(features, stimulus, self.trunk_subject,
                                 (lambda f, s: None) if progress is None else progress)
        return self.readout(hidden, indices)

    def _columns(self, indices) -> np.ndarray:
        """Positions in ``self.indices`` of the outputs asked for."""
        if indices is None:
            return np.arange(len(self.indices))
        position = {int(index): i for i, index in enumerate(self.indices)}
        missing = [int(i) for i in indices if int(i) not in position]
        if missing:
            raise UserInputError(f"adapted subject {self.name!r} was fitted on {len(self.indices):,} outputs of "
                                 f"{self.space_id}; {len(missing):,} of those asked for are not among them "
                                 f"(e.g. {missing[0]}): select regions within its outputs")
        return np.array([position[int(i)] for i in indices], dtype=np.int64)


# -- the store ------------------------------------------------------------------------------------------
def subjects_dir(settings: Settings | None = None) -> Path:
    """The folder of adapted subjects: ``<cache_dir>/subjects``."""
    return (settings or Settings.from_env()).cache_dir / SUBJECTS_FOLDER


def _folder(settings: Settings | None, model_id: str, name: str) -> Path:
    return subjects_dir(settings) / model_id / check_subject_name(name)


def save_subject(subject: AdaptedSubject, settings: Settings | None = None, replace: bool = False) -> Path:
    """Write ``subject`` into the store (all of it or nothing) and return its folder.

    Raises
    ------
    UserInputError
        A subject of that name exists for the model and ``replace`` is False.
    """
    target = _folder(settings, subject.model_id, subject.name)
    if target.exists() and not replace:
        raise UserInputError(f"an adapted subject {subject.name!r} of {subject.model_id} exists already; delete it "
                             f"(nforge subjects delete {subject.name}) or replace it (--replace)")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{subject.name}.", dir=target.parent))
    try:
        arrays = {key: np.asarray(getattr(subject, key)) for key in _ARRAYS}
        arrays["columns"] = np.array(subject.columns, dtype=str)
        arrays["column_modalities"] = np.array(subject.column_modalities, dtype=str)
        np.savez(scratch / ARRAYS_FILE, **arrays)
        card = json.dumps(subject.full_card, indent=1, default=_json_default)
        (scratch / CARD_FILE).write_text(card, encoding="utf-8")
        old = None
        if target.exists():
            old = target.with_name(f".{subject.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(scratch, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _read_card(folder: Path) -> dict | None:
    try:
        card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) and (folder / ARRAYS_FILE).is_file() else None


def list_subjects(settings: Settings | None = None, model_id: str | None = None) -> list[dict]:
    """The cards of the adapted subjects (of one model, or all), sorted by model and name."""
    root = subjects_dir(settings)
    models = [model_id] if model_id else sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    cards = []
    for model in models:
        folder = root / model
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            card = None if path.name.startswith(".") or not path.is_dir() else _read_card(path)
            if card is not None:
                cards.append(card)
    return cards


def adapted_names(settings: Settings | None, model_id: str) -> list[str]:
    """Names of the adapted subjects of ``model_id``."""
    return [card["name"] for card in list_subjects(settings, model_id)]


def load_subject(settings: Settings | None, model_id: str, name: str) -> AdaptedSubject:
    """Read an adapted subject from the store (its arrays checked against the content hash of its card)."""
    folder = _folder(settings, model_id, name)
    card = _read_card(folder)
    if card is None:
        known = adapted_names(settings, model_id)
        raise UserInputError(f"no adapted subject {name!r} for {model_id}; adapted: {', '.join(known) or '(none)'}")
    try:
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in (*_ARRAYS, "columns", "column_modalities")}
    except (OSError, ValueError, KeyError) as error:
        raise UserInputError(f"adapted subject {name!r} of {model_id} is damaged ({error}); delete it "
                             f"(nforge subjects delete {name}) and adapt again") from None
    subject = AdaptedSubject(
        name=card["name"], model_id=card["model_id"], space_id=card["space_id"], indices=arrays["indices"],
        columns=tuple(str(c) for c in arrays["columns"]),
        column_modalities=tuple(str(m) for m in arrays["column_modalities"]),
        **{key: arrays[key] for key in _ARRAYS if key != "indices"},
        card={k: v for k, v in card.items() if k not in ("name", "model_id", "space_id")})
    if subject.content_hash != card.get("content_hash"):
        raise UserInputError(f"adapted subject {name!r} of {model_id} is damaged (its arrays do not match its card);"
                             f" delete it (nforge subjects delete {name}) and adapt again")
    return subject


def delete_subject(settings: Settings | None, name: str, model_id: str | None = None) -> list[str]:
    """Delete the adapted subject ``name`` (of ``model_id``, or of the one model that has it); return the
    models it was deleted for."""
    name = check_subject_name(name)
    owners = [card["model_id"] for card in list_subjects(settings, model_id) if card["name"] == name]
    if not owners:
        where = f" for {model_id}" if model_id else ""
        raise UserInputError(f"no adapted subject {name!r}{where}; `nforge subjects list` shows them")
    if len(owners) > 1:
        raise UserInputError(f"adapted subjects named {name!r} exist for {', '.join(owners)}: say which model "
                             "(--model)")
    folder = _folder(settings, owners[0], name)
    trash = folder.with_name(f".{name}.deleted-{os.getpid()}")
    os.replace(folder, trash)  # gone from the store at once, then removed
    shutil.rmtree(trash, ignore_errors=True)
    return owners


__all__ = ["AdaptedSubject", "adapted_names", "check_subject_name", "delete_subject", "list_subjects",
           "load_subject", "save_subject", "subjects_dir"]
