"""Measured fMRI in the formats people have, read into :class:`~nforge_app.values.MeasuredRun` values.

===========================  ===================================================================================
file                         read as
===========================  ===================================================================================
``.npz``                     ``data`` (T, V) and an optional ``tr_s`` scalar (read with ``allow_pickle=False``)
``.npy``                     the array itself, (T, V)
``.csv`` ``.tsv``            a table, one row per volume (e.g. T x 1000 Schaefer parcels); an optional header
                             row, and an optional first column ``time_s`` (then the TR is its step)
``.func.gii`` ``.gii``       GIfTI time series, one file per hemisphere (fsaverage5: 10,242 vertices each; the
                             hemisphere from ``AnatomicalStructurePrimary`` or the name, the TR from
                             ``TimeStep`` in ms), or one file with all 20,484 vertices
``.h5`` ``.hdf5``            Algonauts 2025 runs: one (T, 1000) dataset per run, chosen by name (``run``); TR
                             1.49 s (CNeuroMod) unless the file says otherwise; needs ``h5py``
===========================  ===================================================================================

Every reader checks what no analysis can use (not two-dimensional, empty, NaN or inf) and says so in one
:class:`~nforge_app.errors.UserInputError`; :func:`measured_columns` then matches a run to a prediction's
outputs. Evaluation and subject adaptation share them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nforge_app._files import check_inflation, check_npz_inflation
from nforge_app.errors import UserInputError
from nforge_app.values import MeasuredRun

MIN_TIMEPOINTS = 10
"""Fewest time points a correlation over time is computed on."""
ALGONAUTS_TR_S = 1.49
N_VERTICES_HEMI = 10242
MEASURED_SUFFIXES = (".npz", ".npy", ".csv", ".tsv", ".func.gii", ".gii", ".h5", ".hdf5")
_TIME_COLUMNS = ("time_s", "time", "t", "onset", "onset_s", "times_s")
_STRUCTURES = {"CortexLeft": "L", "CortexRight": "R"}
_HEMI_NAME = re.compile(r"(?:^|[._-])(?:hemi-)?(lh|rh|l|r|left|right)(?=[._-])", re.IGNORECASE)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in MEASURED_SUFFIXES if name.endswith(s)), path.suffix.lower())


def _checked(data, source: str) -> np.ndarray:
    """``data`` as float32 (T, V): numeric, two-dimensional, not empty, finite; else a clear message."""
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise UserInputError(f"{source}: measured data must be numbers, got {array.dtype} values")
    if array.ndim == 1:
        raise UserInputError(f"{source}: measured data must be a table (time points x outputs); got one row of "
                             f"{len(array)} values")
    if array.ndim != 2 or not array.size:
        raise UserInputError(f"{source}: measured data must be a table (time points x outputs), got shape "
                             f"{array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise UserInputError(f"{source}: {int(bad.sum())} NaN or infinite values (the first at time point {row}, "
                             f"output {column}); accepted: finite numbers only (set missing outputs such as the "
                             "medial wall to 0, they are then left out as constant)")
    return array.astype(np.float32, copy=False)


def _positive_tr(value, source: str) -> float | None:
    if value is None:
        return None
    try:
        tr_s = float(np.asarray(value).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        raise UserInputError(f"{source}: tr_s must be one number (seconds), got {value!r}") from None
    if not np.isfinite(tr_s) or tr_s <= 0:
        raise UserInputError(f"{source}: tr_s must be a positive number of seconds, got {tr_s:g}")
    return tr_s


def _read_npz(path: Path) -> tuple[np.ndarray, float | None, list[str]]:
    check_npz_inflation(path)
    with np.load(path, allow_pickle=False) as npz:
        if "data" not in npz.files:
            raise UserInputError(f"{path.name}: an npz of measured data needs a 'data' array (time points x "
                                 f"outputs) and optionally 'tr_s'; it holds {', '.join(npz.files) or 'nothing'}")
        tr_s = _positive_tr(npz["tr_s"], path.name) if "tr_s" in npz.files else None
        return npz["data"], tr_s, []


def _read_table(path: Path) -> tuple[np.ndarray, float | None, list[str]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, encoding="utf-8-sig") as handle:
        first = handle.readline().rstrip("\r\n").split(delimiter)
    try:
        [float(cell) for cell in first]
        header = None
    except ValueError:
        header = [cell.strip().lower() for cell in first]
    try:
        table = np.loadtxt(path, delimiter=delimiter, skiprows=0 if header is None else 1, ndmin=2,
                           dtype=np.float64, encoding="utf-8-sig")
    except ValueError as error:
        raise UserInputError(f"{path.name}: not a table of numbers ({error}); accepted: one row per time point, "
                             f"'{delimiter}'-separated, with an optional header row") from None
    if header and header[0] in _TIME_COLUMNS and table.shape[1] > 1:
        times = table[:, 0]
        steps = np.diff(times)
        if len(steps) and (steps <= 0).any():
            raise UserInputError(f"{path.name}: the {header[0]!r} column must increase from row to row")
        tr_s = float(np.median(steps)) if len(steps) else None
        return table[:, 1:], tr_s, [f"TR {tr_s:g} s from its {header[0]!r} column"] if tr_s else []
    return table, None, []


def _gifti_hemisphere(image, path: Path) -> str | None:
    for meta in [image.meta] + [array.meta for array in image.darrays[:1]]:
        structure = _STRUCTURES.get(str(dict(meta).get("AnatomicalStructurePrimary", "")))
        if structure:
            return structure
    match = _HEMI_NAME.search(path.name)
    return None if match is None else match.group(1)[0].upper()


def _read_gifti(path: Path) -> tuple[np.ndarray, float | None, list[str], str | None]:
    import nibabel as nib

    _check_gifti_size(path)
    try:
        image = nib.load(str(path))
    except Exception as error:  # nibabel raises many kinds for a damaged file
        raise UserInputError(f"{path.name}: not a readable GIfTI file ({error})") from None
    arrays = [np.asarray(array.data) for array in getattr(image, "darrays", [])]
    if not arrays:
        raise UserInputError(f"{path.name}: the GIfTI file holds no data array")
    if len(arrays) == 1 and arrays[0].ndim == 2:  # one (vertices, time) array
        data = arrays[0].T
    elif all(array.shape == arrays[0].shape and array.ndim == 1 for array in arrays):
        data = np.stack(arrays)  # one array per time point, as func.gii time series are written
    else:
        raise UserInputError(f"{path.name}: expected a GIfTI time series (one array of values per time point); "
                             f"got arrays of shapes {sorted({a.shape for a in arrays})}")
    tr_s = None
    for meta in [image.meta] + [array.meta for array in image.darrays[:1]]:
        step = dict(meta).get("TimeStep")
        if step:
            tr_s = _positive_tr(float(step) / 1000.0, path.name)  # milliseconds, as FreeSurfer writes it
            break
    return data, tr_s, [f"TR {tr_s:g} s from its TimeStep"] if tr_s else [], _gifti_hemisphere(image, path)


_GIFTI_ARRAY = re.compile(rb"<DataArray\b[^>]*>")
_GIFTI_DIM = re.compile(rb"\bDim\d+\s*=\s*\"(\d+)\"")


def _check_gifti_size(path: Path) -> None:
    """Refuse a GIfTI file whose compressed arrays would inflate to too much (before nibabel decodes them)."""
    head = path.read_bytes()
    declared = [np.prod([int(d) for d in _GIFTI_DIM.findall(tag)], dtype=np.float64) * 8
                for tag in _GIFTI_ARRAY.findall(head)]  # at most 8 bytes a value
    check_inflation(path.name, float(sum(declared)), len(head), len(declared))


def _h5_datasets(group, prefix: str = "") -> list[str]:
    import h5py

    names = []
    for key, item in group.items():
        if isinstance(item, h5py.Dataset) and item.ndim == 2:
            names.append(prefix + key)
        elif isinstance(item, h5py.Group):
            names += _h5_datasets(item, f"{prefix}{key}/")
    return names


def _read_h5(path: Path, run: str | None) -> tuple[np.ndarray, float | None, list[str], str]:
    try:
        import h5py
    except ImportError:
        raise UserInputError(f"{path.name}: reading .h5 files needs h5py: pip install 'nforge-app[h5]'") from None
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise UserInputError(f"{path.name}: not a readable HDF5 file ({error})") from None
    with handle:
        names = _h5_datasets(handle)
        if not names:
            raise UserInputError(f"{path.name}: no two-dimensional dataset (time points x outputs) in the file")
        listed = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
        if run is None and len(names) > 1:
            raise UserInputError(f"{path.name} holds {len(names)} runs: name one (a unique part of its name is "
                                 f"enough, e.g. s01e01a); runs: {listed}")
        chosen = [run] if run in names else [n for n in names if run is None or run in n]
        if len(chosen) != 1:
            problem = "matches none" if not chosen else f"matches {len(chosen)} ({', '.join(chosen[:8])})"
            raise UserInputError(f"{path.name}: run {run!r} {problem}; runs: {listed}")
        dataset = handle[chosen[0]]
        check_inflation(f"{path.name}:{chosen[0]}", float(dataset.size * dataset.dtype.itemsize),
                        dataset.id.get_storage_size())
        data = dataset[()]
        tr_s = next((_positive_tr(attrs["tr_s"], path.name) for attrs in (dataset.attrs, handle.attrs)
                     if "tr_s" in attrs), None)
    notes = []
    if tr_s is None:
        tr_s = ALGONAUTS_TR_S
        notes.append(f"TR {ALGONAUTS_TR_S:g} s assumed (Algonauts 2025 / CNeuroMod; give the TR if it differs)")
    return data, tr_s, notes, chosen[0]


def _read_one(path: Path, run: str | None):
    """(data, tr_s, notes, hemisphere or None, source) of one file."""
    if not path.is_file():
        raise UserInputError(f"no such file: {path}")
    kind = _suffix(path)
    try:
        if kind == ".npz":
            return (*_read_npz(path), None, path.name)
        if kind == ".npy":
            return np.load(path, allow_pickle=False), None, [], None, path.name
        if kind in (".csv", ".tsv"):
            return (*_read_table(path), None, path.name)
        if kind in (".func.gii", ".gii"):
            return (*_read_gifti(path), path.name)
        if kind in (".h5", ".hdf5"):
            data, tr_s, notes, name = _read_h5(path, run)
            return data, tr_s, notes, None, f"{path.name}:{name}"
    except (OSError, ValueError) as error:
        if isinstance(error, UserInputError):
            raise
        raise UserInputError(f"{path.name}: cannot read it as {kind} ({error})") from None
    raise UserInputError(f"{path.name}: unknown measured-data format; accepted: {', '.join(MEASURED_SUFFIXES)}")


def _with_tr(tr_s: float | None, given: float | None, source: str) -> float | None:
    """The file's TR, or the one given; both and different: a message (one of them is wrong)."""
    given = _positive_tr(given, "the TR given")
    if tr_s is not None and given is not None and abs(tr_s - given) > 1e-6:
        raise UserInputError(f"{source} says its TR is {tr_s:g} s but {given:g} s was given; give the right one "
                             "(or none, to use the file's)")
    return tr_s if tr_s is not None else given


def _hemisphere_pair(left, right) -> tuple:
    """Two hemisphere files as (left, right), from what each says it is (else in the order given)."""
    hemis = (left[3], right[3])
    if hemis[0] == hemis[1] and hemis[0] is not None:
        raise UserInputError(f"{left[4]} and {right[4]} are both {'left' if hemis[0] == 'L' else 'right'} "
                             "hemispheres; give one left and one right file")
    return (right, left) if hemis in (("R", "L"), ("R", None), (None, "L")) else (left, right)


def read_runs(paths: Sequence[str | os.PathLike], run: str | None = None, tr_s: float | None = None
              ) -> list[MeasuredRun]:
    """Read measured runs from files; two GIfTI hemisphere files in a row make one run.

    Parameters
    ----------
    paths : sequence of path-like
        Files in any of the formats of this module; several runs are repeats of the same stimulus.
    run : str, optional
        For HDF5 files with several runs: the run's name, or a unique part of it (``"s01e01a"``).
    tr_s : float, optional
        TR in seconds, for files that do not say it (a file that says another TR is an error).

    Returns
    -------
    list of MeasuredRun

    Raises
    ------
    UserInputError
        A missing or unreadable file, an unknown format, NaN or inf values, a lone hemisphere, two files of
        the same hemisphere, hemispheres of different lengths, a TR that contradicts the file's.
    """
    pending = [_read_one(Path(path), run) for path in paths]
    if not pending:
        raise UserInputError("no measured data given: give a file (npz, npy, csv, tsv, func.gii, h5)")
    runs = []
    while pending:
        item = pending.pop(0)
        data, file_tr, notes, hemi, source = item
        width = np.shape(data)[-1] if np.ndim(data) == 2 else None
        if hemi is not None or (source.lower().endswith(".gii") and width == N_VERTICES_HEMI):
            if width != N_VERTICES_HEMI:
                if width != 2 * N_VERTICES_HEMI:
                    raise UserInputError(f"{source}: a hemisphere file must hold {N_VERTICES_HEMI} fsaverage5 "
                                         f"vertices per time point, got {width}")
            elif not pending or not pending[0][4].lower().endswith(".gii"):
                raise UserInputError(f"{source} holds one hemisphere ({N_VERTICES_HEMI} vertices): give the "
                                     "other hemisphere's file right after it (left then right)")
            else:
                left, right = _hemisphere_pair(item, pending.pop(0))
                parts = [_checked(left[0], left[4]), _checked(right[0], right[4])]
                if len(parts[0]) != len(parts[1]):
                    raise UserInputError(f"{left[4]} has {len(parts[0])} time points but {right[4]} has "
                                         f"{len(parts[1])}: the two hemispheres must come from the same run")
                trs = {t for t in (left[1], right[1]) if t is not None}
                if len(trs) > 1:
                    raise UserInputError(f"{left[4]} and {right[4]} give different TRs: {sorted(trs)}")
                runs.append(MeasuredRun(np.concatenate(parts, axis=1), _with_tr(trs.pop() if trs else None, tr_s,
                                        left[4]), f"{left[4]} + {right[4]}", tuple(left[2])))
                continue
        runs.append(MeasuredRun(_checked(data, source), _with_tr(file_tr, tr_s, source), source, tuple(notes)))
    return runs


def read_measured(path: str | os.PathLike, path_rh: str | os.PathLike | None = None, run: str | None = None,
                  tr_s: float | None = None) -> MeasuredRun:
    """Read one run of measured fMRI (for GIfTI: the left and the right hemisphere files).

    Parameters
    ----------
    path : path-like
        A file in one of the formats of this module (the left hemisphere for GIfTI pairs).
    path_rh : path-like, optional
        The right hemisphere's GIfTI file.
    run, tr_s :
        As in :func:`read_runs`.

    Returns
    -------
    MeasuredRun

    Examples
    --------
    >>> run = read_measured("sub-01_bold.npz")  # doctest: +SKIP
    >>> run.data.shape, run.tr_s  # doctest: +SKIP
    ((600, 20484), 1.49)
    """
    runs = read_runs([path] if path_rh is None else [path, path_rh], run=run, tr_s=tr_s)
    if len(runs) != 1:
        raise UserInputError(f"{len(runs)} runs given where one was expected: give repeated runs as repeats")
    return runs[0]


def measured_columns(run: MeasuredRun, indices: np.ndarray, n_outputs: int, space_id: str
                     ) -> tuple[np.ndarray, list[str]]:
    """The columns of a measured run that are a prediction's outputs ``indices``, as (T, len(indices)).

    Parameters
    ----------
    run : MeasuredRun
        Every output of the space (``n_outputs`` columns) or exactly the selected ones (``len(indices)``); a
        table stored the other way round (outputs x time) is turned, and the notes say so.
    indices : ndarray of int
        The prediction's outputs.
    n_outputs : int
        Outputs of the space.
    space_id : str
        The space, for the message.

    Returns
    -------
    (data, notes)
        float32 (T, len(indices)), and what was done, in words.

    Raises
    ------
    UserInputError
        A number of outputs that is neither, or fewer than :data:`MIN_TIMEPOINTS` time points.
    """
    data, notes = run.data, []
    widths = {n_outputs: "every output of " + space_id, len(indices): f"the {len(indices)} outputs predicted"}
    if data.shape[1] not in widths and data.shape[0] in widths:
        data = data.T
        notes.append(f"{run.source} was stored outputs x time: turned")
    if data.shape[1] not in widths:
        accepted = " or ".join(f"{n} ({what})" for n, what in widths.items())
        raise UserInputError(f"{run.source} has {data.shape[1]} outputs per time point; accepted: {accepted}")
    if data.shape[1] == n_outputs and n_outputs != len(indices):
        data = data[:, indices]
    if len(data) < MIN_TIMEPOINTS:
        raise UserInputError(f"{run.source} has {len(data)} time points; at least {MIN_TIMEPOINTS} are needed to "
                             "correlate over time")
    return np.ascontiguousarray(data, dtype=np.float32), notes
