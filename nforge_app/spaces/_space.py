"""Output spaces: what the columns of a prediction are, and how users pick some of them.

Two spaces exist. ``fsaverage5``: the 20,484 vertices of the fsaverage5 surface (left then right), with the
Glasser HCP-MMP1.0 regions (180 names, each bilateral) and the Yeo-7 networks (from the Schaefer atlas).
``schaefer1000``: the 1000 parcels of Schaefer 2018 (7 networks; left 1..500, then right), with their MNI
centroids and their footprint on fsaverage5.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np

from nforge_app.checks import check_in
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.spaces._atlases import CENTROIDS_CSV, atlas_path, read_annot, read_centroids

SPACE_IDS = ("fsaverage5", "schaefer1000")
NETWORKS = ("Vis", "SomMot", "DorsAttn", "SalVentAttn", "Limbic", "Cont", "Default")
GLASSER = "Glasser_HCP-MMP1.0"
SCHAEFER = "Schaefer2018_1000Parcels_7Networks"
N_VERTICES_HEMI = 10242
N_PARCELS_HEMI = 500


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class OutputSpace:
    """The outputs of a model (surface vertices or parcels), their regions and networks.

    Attributes
    ----------
    space_id : str
        ``"fsaverage5"`` or ``"schaefer1000"``.
    kind : str
        ``"surface"`` (one output per vertex) or ``"parcels"`` (one output per parcel).
    n_outputs, n_lh, n_rh : int
        Number of outputs in all, in the left and in the right hemisphere (left come first).
    roi_labels : tuple of str
        Region names: the 180 bilateral Glasser names, or the 1000 Schaefer parcel names.
    roi_assignment : ndarray of int64 (n_outputs,)
        Index into ``roi_labels`` of each output; -1 on the medial wall.
    networks : dict
        ``{Yeo-7 network name: bool mask (n_outputs,)}`` in the order of :data:`NETWORKS`.
    parcellation : str
        Name of the parcellation behind ``roi_labels``.
    parcel_of_vertex : ndarray of int64 (20484,) or None
        For parcels: the parcel (output index) of each fsaverage5 vertex, -1 on the medial wall.
    centroids_mni : ndarray of float64 (n_outputs, 3) or None
        For parcels: MNI coordinates (mm) of each parcel's centroid.

    Arrays are read-only: spaces are cached and shared (see :func:`get_space`).
    """

    space_id: str
    kind: str
    n_outputs: int
    n_lh: int
    n_rh: int
    roi_labels: tuple[str, ...]
    roi_assignment: np.ndarray
    networks: dict[str, np.ndarray]
    parcellation: str
    parcel_of_vertex: np.ndarray | None = None
    centroids_mni: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.n_lh + self.n_rh != self.n_outputs or self.roi_assignment.shape != (self.n_outputs,):
            raise ValueError(f"inconsistent sizes for space {self.space_id!r}")
        if tuple(self.networks) != NETWORKS:
            raise ValueError(f"networks must be {NETWORKS}, got {tuple(self.networks)}")

    @property
    def _unit(self) -> str:
        return "vertex" if self.kind == "surface" else "parcel"

    @property
    def _units(self) -> str:
        return "vertices" if self.kind == "surface" else "parcels"

    def select(self, roi: str | list[str] | None = None, mask=None) -> np.ndarray:
        """Indices of the outputs picked by region names and/or a binary mask (their union).

        Parameters
        ----------
        roi : str or list of str, optional
            Region names (Glasser names such as ``"V1"`` for fsaverage5, both hemispheres; parcel names
            such as ``"7Networks_LH_Vis_1"`` for schaefer1000), shell wildcards over those names
            (``"V*"``, ``"*STS*"``) and Yeo-7 network names (``"Vis"``, ``"Default"``...). Matching is
            case-sensitive first, then case-insensitive for a name that matched nothing.
        mask : array-like of bool or 0/1, optional
            One value per output (``n_outputs``); the outputs set to 1 are picked.

        Returns
        -------
        ndarray of int64
            Sorted, unique output indices; all outputs when neither ``roi`` nor ``mask`` is given.

        Raises
        ------
        UserInputError
            An unknown name (the message lists the closest valid names), a mask of the wrong length or with
            values other than 0/1, or a selection that picks nothing.
        """
        names = self._names(roi)
        if not names and mask is None:
            return np.arange(self.n_outputs, dtype=np.int64)
        picked = np.zeros(self.n_outputs, dtype=bool)
        if names:
            picked |= self._names_mask(names)
        if mask is not None:
            picked |= self._check_mask(mask)
        if not picked.any():
            raise UserInputError(f"the selection picks no {self._unit}: give at least one region name, or a "
                                 f"mask with at least one 1")
        return np.flatnonzero(picked).astype(np.int64)

    def metadata(self) -> dict:
        """The space's part of the BERG metadata (copies, safe to change).

        Returns
        -------
        dict
            fsaverage5: ``{"fmri": {"n_vertices", "n_vertices_lh", "n_vertices_rh", "surface_mesh"},
            "roi": {"parcellation", "roi_labels" (180,), "roi_assignments" (20484,), "roi_index"}}``.
            schaefer1000: ``{"fmri": {"num_rois", "num_rois_lh", "num_rois_rh", "parcellation",
            "roi_labels" (1000,), "centroids_mni" (1000, 3)}, "roi_masks": {network: bool (1000,)}}``.
        """
        labels = np.array(self.roi_labels)
        if self.kind == "surface":
            return {
                "fmri": {"n_vertices": self.n_outputs, "n_vertices_lh": self.n_lh, "n_vertices_rh": self.n_rh,
                         "surface_mesh": self.space_id},
                "roi": {"parcellation": self.parcellation, "roi_labels": labels,
                        "roi_assignments": self.roi_assignment.copy(),
                        "roi_index": {name: i for i, name in enumerate(self.roi_labels)}},
            }
        return {
            "fmri": {"num_rois": self.n_outputs, "num_rois_lh": self.n_lh, "num_rois_rh": self.n_rh,
                     "parcellation": self.parcellation, "roi_labels": labels,
                     "centroids_mni": self.centroids_mni.copy()},
            "roi_masks": {name: mask.copy() for name, mask in self.networks.items()},
        }

    def to_surface(self, values, indices=None) -> np.ndarray:
        """Values per output shown on the 20,484 fsaverage5 vertices.

        Parameters
        ----------
        values : array-like (..., n_outputs) or (..., len(indices))
            One value per output (or per selected output) in the last axis.
        indices : array-like of int, optional
            Which outputs the last axis of ``values`` holds; the others become NaN.

        Returns
        -------
        ndarray of float (..., 20484)
            fsaverage5: the values themselves (no copy when they are already floats and complete);
            schaefer1000: each vertex painted with its parcel's value, NaN on the medial wall.
        """
        values = np.asarray(values)
        values = values.astype(np.result_type(values.dtype, np.float32), copy=False)
        if indices is not None:
            indices = np.asarray(indices)
            if values.shape[-1:] != indices.shape:
                raise UserInputError(f"values have {values.shape[-1:]} columns but {len(indices)} indices")
            full = np.full(values.shape[:-1] + (self.n_outputs,), np.nan, dtype=values.dtype)
            full[..., indices] = values
            values = full
        if values.shape[-1:] != (self.n_outputs,):
            raise UserInputError(f"values must have {self.n_outputs} values ({self._units} of {self.space_id}) "
                                 f"in their last axis, got shape {values.shape}")
        if self.parcel_of_vertex is None:
            return values
        on_surface = values[..., np.maximum(self.parcel_of_vertex, 0)]
        on_surface[..., self.parcel_of_vertex < 0] = np.nan
        return on_surface

    def roi_time_series(self, data, indices=None, names=None) -> tuple[tuple[str, ...], np.ndarray]:
        """Mean time course of each region over its selected outputs (for tables and plots).

        Parameters
        ----------
        data : array-like (T, V)
            One column per selected output.
        indices : array-like of int (V,), optional
            Which outputs the columns are (all outputs when omitted).
        names : list of str, optional
            Regions to summarise (anything :meth:`select` accepts; a wildcard gives one column over all its
            matches). By default every region of ``roi_labels`` with at least one selected output.

        Returns
        -------
        names : tuple of str
            The regions that have selected outputs, in the order asked (or of ``roi_labels``).
        means : ndarray (T, len(names))
            Mean over each region's selected outputs.
        """
        data = np.asarray(data)
        indices = np.arange(self.n_outputs) if indices is None else np.asarray(indices)
        if data.ndim != 2 or data.shape[1] != len(indices):
            raise UserInputError(f"data must be (time, {len(indices)} selected {self._units}), got {data.shape}")
        if names is None:
            assigned = self.roi_assignment[indices]
            present = np.unique(assigned[assigned >= 0])
            pairs = [(self.roi_labels[i], assigned == i) for i in present]
        else:
            pairs = [(name, self._names_mask([name])[indices]) for name in self._names(names)]
        pairs = [(name, np.flatnonzero(columns)) for name, columns in pairs if columns.any()]
        means = np.empty((data.shape[0], len(pairs)), dtype=np.result_type(data.dtype, np.float32))
        for j, (_, columns) in enumerate(pairs):
            means[:, j] = data[:, columns].mean(axis=1)
        return tuple(name for name, _ in pairs), means

    @staticmethod
    def _names(roi) -> list[str]:
        if roi is None or isinstance(roi, str):
            return [] if roi is None else [roi]
        names = list(roi) if isinstance(roi, (list, tuple, np.ndarray)) else [roi]
        bad = [name for name in names if not isinstance(name, str)]
        if bad:
            raise UserInputError(f"region names must be strings (or a list of them), got {bad!r}")
        return names

    def _name_mask(self, name: str) -> np.ndarray | None:
        """Outputs named by ``name`` (network, region or wildcard), or None when it matches nothing."""
        for fold in (str, str.lower):  # case-sensitive first, then case-insensitive
            key = fold(name)
            for network, mask in self.networks.items():
                if fold(network) == key:
                    return mask
            matched = [i for i, label in enumerate(self.roi_labels) if fnmatchcase(fold(label), key)]
            if matched:
                return np.isin(self.roi_assignment, matched)
        return None

    def _names_mask(self, names: list[str]) -> np.ndarray:
        picked = np.zeros(self.n_outputs, dtype=bool)
        unknown = []
        for name in names:
            mask = self._name_mask(name)
            if mask is None:
                unknown.append(name)
            else:
                picked |= mask
        if unknown:
            valid = list(NETWORKS) + list(self.roi_labels)
            close = {name: difflib.get_close_matches(name, valid, n=5, cutoff=0.5) for name in unknown}
            hints = "; ".join(f"{name!r}: did you mean {', '.join(near)}?" if near else f"{name!r}: no close name"
                              for name, near in close.items())
            raise UserInputError(
                f"unknown region name(s) for {self.space_id} ({hints}). Accepted: {self.parcellation} names "
                f"(e.g. {', '.join(self.roi_labels[:3])}), shell wildcards over them (e.g. "
                f"{self.roi_labels[0][:-1]}*), and the Yeo-7 networks {', '.join(NETWORKS)}"
            )
        return picked

    def _check_mask(self, mask) -> np.ndarray:
        array = np.asarray(mask)
        if array.ndim != 1 or len(array) != self.n_outputs:
            got = f"{len(array)} values" if array.ndim == 1 else f"shape {array.shape}"
            raise UserInputError(f"the mask must have exactly {self.n_outputs} values (one per {self._unit} of "
                                 f"{self.space_id}), got {got}")
        if array.dtype == bool:
            return array
        if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
            odd = np.unique(array[~np.isin(array, (0, 1))])[:5] if array.dtype.kind in "iuf" else array[:5]
            raise UserInputError(f"the mask must hold only 0/1 or True/False values, got {odd.tolist()}")
        return array.astype(bool)


def get_space(space_id: str, settings: Settings | None = None) -> OutputSpace:
    """The output space named ``space_id``, built once per atlas location and shared.

    Parameters
    ----------
    space_id : str
        One of :data:`SPACE_IDS`.
    settings : Settings, optional
        Where the atlas files are (read from the environment when omitted).

    Returns
    -------
    OutputSpace

    Raises
    ------
    UserInputError
        An unknown ``space_id``, or atlas files that are missing or damaged.
    """
    check_in("output space", space_id, SPACE_IDS)
    settings = settings if settings is not None else Settings.from_env()
    return _cached_space(space_id, settings.atlas_dir, settings.cache_dir)


@functools.lru_cache(maxsize=8)
def _cached_space(space_id: str, atlas_dir: Path | None, cache_dir: Path) -> OutputSpace:
    settings = Settings(cache_dir=cache_dir, atlas_dir=atlas_dir)
    return _fsaverage5_space(settings) if space_id == "fsaverage5" else _schaefer1000_space(settings)


def _both_hemispheres(atlas: str, settings: Settings) -> tuple[np.ndarray, np.ndarray, tuple, tuple]:
    """Labels of the lh and rh annot files of an atlas, with their names (label 0 = medial wall)."""
    (lh, lh_names), (rh, rh_names) = (read_annot(atlas_path(f"fsa5_{hemi}_{atlas}.annot", settings))
                                      for hemi in ("lh", "rh"))
    if len(lh) != N_VERTICES_HEMI or len(rh) != N_VERTICES_HEMI:
        raise ValueError(f"the {atlas} annot files do not have {N_VERTICES_HEMI} vertices per hemisphere")
    return lh, rh, lh_names, rh_names


def _schaefer_on_surface(settings: Settings) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Parcel names (1000), parcel of each vertex (-1 medial wall) and network of each parcel."""
    lh, rh, lh_names, rh_names = _both_hemispheres("schaefer_1000", settings)
    names = lh_names[1:] + rh_names[1:]
    if len(names) != 2 * N_PARCELS_HEMI:
        raise ValueError(f"the Schaefer annot files name {len(names)} parcels, expected {2 * N_PARCELS_HEMI}")
    parcel_of_vertex = np.concatenate([lh - 1, np.where(rh > 0, rh - 1 + N_PARCELS_HEMI, -1)])
    network = np.array([name.split("_")[2] for name in names])
    if not np.isin(network, NETWORKS).all():
        raise ValueError(f"unexpected Schaefer network names: {sorted(set(network) - set(NETWORKS))}")
    return names, parcel_of_vertex, network


def _fsaverage5_space(settings: Settings) -> OutputSpace:
    lh, rh, lh_names, rh_names = _both_hemispheres("glasser_360", settings)
    if lh_names != rh_names or len(lh_names) != 181:
        raise ValueError("the Glasser annot files must name the same 180 regions (after the medial wall)")
    _, parcel_of_vertex, network = _schaefer_on_surface(settings)
    network_of_vertex = np.where(parcel_of_vertex >= 0, network[parcel_of_vertex], "")
    return OutputSpace(
        space_id="fsaverage5", kind="surface", n_outputs=2 * N_VERTICES_HEMI, n_lh=N_VERTICES_HEMI,
        n_rh=N_VERTICES_HEMI, roi_labels=lh_names[1:], roi_assignment=_frozen(np.concatenate([lh, rh]) - 1),
        networks={name: _frozen(network_of_vertex == name) for name in NETWORKS}, parcellation=GLASSER,
    )


def _schaefer1000_space(settings: Settings) -> OutputSpace:
    names, parcel_of_vertex, network = _schaefer_on_surface(settings)
    csv_names, centroids = read_centroids(atlas_path(CENTROIDS_CSV, settings))
    if csv_names != names:
        first = next(i for i, (a, b) in enumerate(zip(csv_names, names, strict=True)) if a != b)
        raise UserInputError(f"{CENTROIDS_CSV} does not match the Schaefer annot files: parcel {first + 1} is "
                             f"{csv_names[first]!r} in the table and {names[first]!r} in the annot")
    return OutputSpace(
        space_id="schaefer1000", kind="parcels", n_outputs=2 * N_PARCELS_HEMI, n_lh=N_PARCELS_HEMI,
        n_rh=N_PARCELS_HEMI, roi_labels=names, roi_assignment=_frozen(np.arange(2 * N_PARCELS_HEMI)),
        networks={name: _frozen(network == name) for name in NETWORKS}, parcellation=SCHAEFER,
        parcel_of_vertex=_frozen(parcel_of_vertex), centroids_mni=_frozen(centroids),
    )
