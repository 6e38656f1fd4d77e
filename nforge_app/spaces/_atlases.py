"""Atlas files: where they come from (``atlases.json``), where they are kept, and how they are read.

The files are public data that NForge never ships: :func:`atlas_path` takes them from the folder named by
``NFORGE_ATLAS_DIR`` when it is set, and otherwise downloads them once into ``<cache dir>/atlases/``.
Every file is checked before use, by its sha256 or, for a table whose bytes may differ between copies
(line endings), by its structure.
"""

from __future__ import annotations

import csv
import functools
import json
import shutil
import urllib.request
from importlib import resources
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path, file_sha256
from nforge_app.config import Settings
from nforge_app.errors import UserInputError

STRUCTURE_CHECKED = "structure-checked"
CENTROIDS_CSV = "Schaefer2018_1000Parcels_7Networks_order_FSLMNI152_1mm.Centroid_RAS.csv"
_CENTROIDS_HEADER = ["ROI Label", "ROI Name", "R", "A", "S"]
_N_CENTROIDS = 1000
_DOWNLOAD_TIMEOUT_S = 60.0
_HELP = "see atlases/README.md; without a network, copy the files into a folder and set NFORGE_ATLAS_DIR to it"


@functools.lru_cache(maxsize=1)
def atlas_manifest() -> dict[str, dict[str, str]]:
    """The atlas files NForge uses, by file name, as listed in the package's ``atlases.json``.

    Returns
    -------
    dict
        ``{file name: {"name", "what", "url", "licence", "sha256"}}``; ``sha256`` is the hex digest or
        ``"structure-checked"``.
    """
    text = resources.files(__package__).joinpath("atlases.json").read_text(encoding="utf-8")
    return {entry["name"]: entry for entry in json.loads(text)["files"]}


def atlas_path(name: str, settings: Settings | None = None) -> Path:
    """Path of a checked atlas file, downloading it into the cache on first use.

    Parameters
    ----------
    name : str
        File name, one of the keys of :func:`atlas_manifest`.
    settings : Settings, optional
        Where to look (``atlas_dir``) or cache (``cache_dir``); read from the environment when omitted.

    Returns
    -------
    Path
        ``<atlas_dir>/<name>`` when ``settings.atlas_dir`` is set, else ``<cache_dir>/atlases/<name>``.

    Raises
    ------
    UserInputError
        The file is missing from ``atlas_dir``, fails its check, or cannot be downloaded.
    """
    manifest = atlas_manifest()
    if name not in manifest:
        raise ValueError(f"unknown atlas file {name!r}; known files: {sorted(manifest)}")
    entry = manifest[name]
    settings = settings if settings is not None else Settings.from_env()
    if settings.atlas_dir is not None:
        path = settings.atlas_dir / name
        if not path.is_file():
            raise UserInputError(
                f"the atlas folder {settings.atlas_dir} (NFORGE_ATLAS_DIR) has no file {name}; download it "
                f"from {entry['url']} into that folder, or unset NFORGE_ATLAS_DIR to let NForge download it"
            )
        _check(path, entry, origin=str(path))
        return path
    path = settings.cache_dir / "atlases" / name
    if path.is_file():
        try:
            _check(path, entry, origin=str(path))
            return path
        except UserInputError:
            path.unlink(missing_ok=True)  # a damaged cached copy is simply fetched again
    _download(entry, path)
    return path


def _download(entry: dict[str, str], path: Path) -> None:
    """Fetch ``entry["url"]`` to a temporary file, check it, then move it to ``path`` (nothing on failure)."""
    with atomic_path(path) as tmp:
        try:
            with urllib.request.urlopen(entry["url"], timeout=_DOWNLOAD_TIMEOUT_S) as response, \
                    open(tmp, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:
            raise UserInputError(
                f"could not download the atlas file {entry['name']} from {entry['url']} ({exc}); {_HELP}"
            ) from exc
        _check(tmp, entry, origin=entry["url"])


def _check(path: Path, entry: dict[str, str], origin: str) -> None:
    """Raise UserInputError unless the file at ``path`` is the one ``entry`` describes."""
    if entry["sha256"] == STRUCTURE_CHECKED:
        read_centroids(path, origin=origin)
        return
    digest = file_sha256(path)
    if digest != entry["sha256"]:
        raise UserInputError(
            f"the atlas file {entry['name']} from {origin} is damaged or a different version: sha256 "
            f"{digest}, expected {entry['sha256']}; {_HELP}"
        )


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
