"""Atlas files: which they are (``atlases.json``), where they are read from, and how they are read.

The files ship inside the package (``nforge_app/spaces/atlases/``, with their BSD-3-Clause and MIT
licences), so nothing is downloaded. :func:`atlas_path` gives the packaged copy, or the copy in the folder
named by ``NFORGE_ATLAS_DIR`` when that is set (to try another copy of the same files). Every file is checked
once per process before use, by its sha256 or, for a table whose bytes may differ between copies (line
endings), by its structure.
"""

from __future__ import annotations

import csv
import functools
import json
from importlib import resources
from pathlib import Path

import numpy as np

from nforge_app._files import file_sha256
from nforge_app.config import Settings
from nforge_app.errors import UserInputError

STRUCTURE_CHECKED = "structure-checked"
CENTROIDS_CSV = "Schaefer2018_1000Parcels_7Networks_order_FSLMNI152_1mm.Centroid_RAS.csv"
PACKAGED_DIR = Path(__file__).parent / "atlases"
_CENTROIDS_HEADER = ["ROI Label", "ROI Name", "R", "A", "S"]
_N_CENTROIDS = 1000
_HELP = ("the package ships these files in nforge_app/spaces/atlases/ (see its README.md); unset "
         "NFORGE_ATLAS_DIR to use them")


@functools.lru_cache(maxsize=1)
def atlas_manifest() -> dict[str, dict[str, str]]:
    """The atlas files NForge uses, by file name, as listed in the package's ``atlases.json``.

    Returns
    -------
    dict
        ``{file name: {"name", "what", "source", "licence", "sha256"}}``; ``sha256`` is the hex digest or
        ``"structure-checked"``.
    """
    text = resources.files(__package__).joinpath("atlases.json").read_text(encoding="utf-8")
    return {entry["name"]: entry for entry in json.loads(text)["files"]}


def atlas_path(name: str, settings: Settings | None = None) -> Path:
    """Path of a checked atlas file: the packaged copy, or the one in ``NFORGE_ATLAS_DIR`` when it is set.

    Parameters
    ----------
    name : str
        File name, one of the keys of :func:`atlas_manifest`.
    settings : Settings, optional
        Where to look (``atlas_dir``); read from the environment when omitted.

    Returns
    -------
    Path
        ``<atlas_dir>/<name>`` when ``settings.atlas_dir`` is set, else the packaged file.

    Raises
    ------
    UserInputError
        The file is missing from ``atlas_dir`` or fails its check.
    """
    manifest = atlas_manifest()
    if name not in manifest:
        raise ValueError(f"unknown atlas file {name!r}; known files: {sorted(manifest)}")
    settings = settings if settings is not None else Settings.from_env()
    folder = settings.atlas_dir if settings.atlas_dir is not None else PACKAGED_DIR
    path = folder / name
    if not path.is_file():
        where = f"the atlas folder {folder} (NFORGE_ATLAS_DIR)" if settings.atlas_dir is not None else str(folder)
        raise UserInputError(f"{where} has no file {name}; {_HELP}")
    stat = path.stat()
    _check(str(path), stat.st_size, stat.st_mtime_ns, manifest[name]["sha256"])
    return path


@functools.lru_cache(maxsize=32)
def _check(path: str, size: int, mtime_ns: int, sha256: str) -> None:
    """Raise UserInputError unless the file is the one the manifest describes (once per file version)."""
    if sha256 == STRUCTURE_CHECKED:
        read_centroids(path)
        return
    digest = file_sha256(Path(path))
    if digest != sha256:
        raise UserInputError(f"the atlas file {path} is damaged or a different version: sha256 {digest}, "
                             f"expected {sha256}; {_HELP}")


def read_annot(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read a FreeSurfer annot file.

    Parameters
    ----------
    path : str or Path
        The ``.annot`` file.

    Returns
    -------
    labels : ndarray of int64 (n_vertices,)
        Label index of each vertex (0 = medial wall in the atlases used here).
    names : tuple of str
        Name of each label index.
    """
    import nibabel.freesurfer

    labels, _, names = nibabel.freesurfer.read_annot(str(path))
    return labels.astype(np.int64), tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def read_centroids(path: str | Path, origin: str | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """Read and check the Schaefer-1000 centroid table (``ROI Label,ROI Name,R,A,S``).

    Parameters
    ----------
    path : str or Path
        The CSV file.
    origin : str, optional
        Where the file came from, for the error message (defaults to ``path``).

    Returns
    -------
    names : tuple of str (1000,)
        Parcel names in label order (labels 1..1000).
    coords : ndarray of float64 (1000, 3)
        MNI (FSL MNI152 1 mm) centroid of each parcel, RAS millimetres.

    Raises
    ------
    UserInputError
        The header, the row count, the label order or the coordinates are not as expected.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row]
    problem = None
    if not rows or [cell.strip() for cell in rows[0]] != _CENTROIDS_HEADER:
        problem = f"the header is {rows[0] if rows else 'missing'}, expected {_CENTROIDS_HEADER}"
    elif len(rows) - 1 != _N_CENTROIDS:
        problem = f"it has {len(rows) - 1} rows, expected {_N_CENTROIDS}"
    elif any(len(row) != len(_CENTROIDS_HEADER) for row in rows):
        problem = f"a row does not have {len(_CENTROIDS_HEADER)} columns"
    else:
        try:
            labels = [int(row[0]) for row in rows[1:]]
            coords = np.array([[int(cell) for cell in row[2:5]] for row in rows[1:]], dtype=np.float64)
        except ValueError:
            problem = "a label or coordinate is not an integer"
        else:
            if labels != list(range(1, _N_CENTROIDS + 1)):
                problem = f"the labels are not 1..{_N_CENTROIDS} in order"
    if problem:
        raise UserInputError(f"{origin or path} is not the Schaefer-1000 centroid table: {problem}; {_HELP}")
    return tuple(row[1].strip() for row in rows[1:]), coords
