"""The npz format of a Prediction: plain arrays only, so it loads with ``allow_pickle=False``.

==================  ==========================================================
key                 content
==================  ==========================================================
``data``            float32 (T, V) predicted activity of the selected outputs
``times_s``         float64 (T,) time of each row, on the axis ``time_axis``
``tr_s``            float64 scalar, sampling period
``hrf_offset_s``    float64 scalar, BOLD at t + offset is shown at t
``model_id``        str scalar
``space``           str scalar, the output space (``fsaverage5``, ``schaefer1000``)
``subject``         str scalar
``indices``         int64 (V,) which outputs of the space the columns are
``metadata_json``   str scalar, JSON: the rest (time axis, model card, stimulus)
``spread``          float32 (T, V), only for stochastic models
==================  ==========================================================
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from collections.abc import Iterator

import numpy as np

from nforge_app._files import atomic_path, check_npz_inflation
from nforge_app.errors import UserInputError
from nforge_app.values import Prediction

NPZ_KEYS = ("data", "times_s", "tr_s", "hrf_offset_s", "model_id", "space", "subject", "indices", "metadata_json")


def save_npz(prediction: Prediction, path: str | os.PathLike) -> str:
    """Write ``prediction`` to ``path`` (atomically) and return the path.

    Parameters
    ----------
    prediction : Prediction
        What to save.
    path : str or PathLike
        Target file; ``.npz`` is the expected suffix.

    Returns
    -------
    str
        The path written.
    """
    metadata = dict(prediction.metadata, time_axis=prediction.time_axis)
    arrays = {
        "data": np.asarray(prediction.data, dtype=np.float32),
        "times_s": np.asarray(prediction.times_s, dtype=np.float64),
        "tr_s": np.float64(prediction.tr_s),
        "hrf_offset_s": np.float64(prediction.hrf_offset_s),
        "model_id": np.str_(prediction.model_id),
        "space": np.str_(prediction.space_id),
        "subject": np.str_(prediction.subject),
        "indices": np.asarray(prediction.indices, dtype=np.int64),
        "metadata_json": np.str_(json.dumps(metadata, default=_jsonable, sort_keys=True)),
    }
    if prediction.spread is not None:
        arrays["spread"] = np.asarray(prediction.spread, dtype=np.float32)
    return write_arrays(arrays, path)


def write_arrays(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> str:
    """Write named plain arrays as a compressed npz (atomically) and return the path."""
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return os.fspath(path)


_WHAT_IT_IS = "an NForge prediction is the .npz file that `nforge predict` (or an export as npz) writes"


def load_npz(path: str | os.PathLike) -> Prediction:
    """Read a Prediction written by :func:`save_npz` (no pickles are read).

    Raises
    ------
    UserInputError
        When the file is missing or is not an NForge prediction (another file, another npz, a damaged one),
        in words that say so.
    """
    with open_npz(path, NPZ_KEYS, "NForge prediction", _WHAT_IT_IS) as npz:
        metadata = json.loads(str(npz["metadata_json"]))
        return Prediction(
            data=npz["data"], times_s=npz["times_s"], tr_s=float(npz["tr_s"]), space_id=str(npz["space"]),
            indices=npz["indices"], model_id=str(npz["model_id"]), subject=str(npz["subject"]),
            hrf_offset_s=float(npz["hrf_offset_s"]), time_axis=metadata.pop("time_axis", "stimulus"),
            metadata=metadata, spread=npz["spread"] if "spread" in npz.files else None,
        )


@contextlib.contextmanager
def open_npz(path: str | os.PathLike, keys: tuple[str, ...], what: str, what_it_is: str) -> Iterator:
    """``np.load(path, allow_pickle=False)`` that must hold ``keys``; every failure is a ``UserInputError``.

    A failure inside the ``with`` block that reads the file (a key of the wrong kind or shape) is one too.

    Parameters
    ----------
    path : str or PathLike
        The file.
    keys : tuple of str
        Keys the file must hold.
    what : str
        The kind of file, read after "an" in the messages (``"NForge prediction"``).
    what_it_is : str
        A sentence saying where such a file comes from, ending each message.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise UserInputError(f"{path} is a folder, not an {what}: {what_it_is}")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except FileNotFoundError:
        raise UserInputError(f"no such file: {path}") from None
    except OSError as error:
        raise UserInputError(f"cannot read {path}: {error.strerror or error}") from None
    if magic == b"\x93NUMPY":
        raise UserInputError(f"{path} holds a single numpy array (.npy), not an {what}: {what_it_is}")
    if magic[:4] != b"PK\x03\x04":
        raise UserInputError(f"{path} is not an {what} (not an .npz file at all): {what_it_is}")
    check_npz_inflation(path, path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in keys if key not in npz.files]
            if missing:
                raise UserInputError(f"{path} is an .npz file but not an {what}: it lacks {', '.join(missing)}; "
                                     f"{what_it_is}")
            yield npz
    except UserInputError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, TypeError, AttributeError):
        # damaged, stored Python objects (never loaded), or keys of the wrong kind or shape
        raise UserInputError(f"{path} is an .npz file but not a readable {what} (damaged, or written by another "
                             f"program); {what_it_is}") from None


def npz_kind(path: str | os.PathLike) -> str | None:
    """The ``kind`` an NForge npz says it holds (``"attribution"``, ``"evaluation"`` ...), or None for any
    other file. A zip bomb is refused before any array is read."""
    check_npz_inflation(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return str(npz["kind"]) if "kind" in npz.files else None
    except (OSError, ValueError, zipfile.BadZipFile, AttributeError):
        return None


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
