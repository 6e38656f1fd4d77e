"""Output spaces: the fsaverage5 surface and the Schaefer-1000 parcels, atlases and ROI selection.

``get_space("fsaverage5")`` and ``get_space("schaefer1000")`` give an :class:`OutputSpace` that knows its
regions and networks and turns region names, wildcards and masks into output indices
(:meth:`OutputSpace.select`); :func:`load_fsaverage5` gives the mesh to draw them on. Atlas files are fetched
and checked by :func:`atlas_path` (sources in ``atlases.json``).
"""

from nforge_app.spaces._atlases import atlas_manifest, atlas_path, read_annot, read_centroids
from nforge_app.spaces._fsaverage import (
    HEMISPHERES,
    SIDE_BY_SIDE_GAP_MM,
    SURFACES,
    SurfaceMesh,
    load_fsaverage5,
)
from nforge_app.spaces._region_names import GLASSER_NAMES, NETWORK_NAMES, describe_region
from nforge_app.spaces._space import NETWORKS, SPACE_IDS, OutputSpace, get_space

__all__ = [
    "OutputSpace",
    "get_space",
    "SPACE_IDS",
    "NETWORKS",
    "SurfaceMesh",
    "load_fsaverage5",
    "SURFACES",
    "HEMISPHERES",
    "SIDE_BY_SIDE_GAP_MM",
    "atlas_path",
    "atlas_manifest",
    "read_annot",
    "read_centroids",
    "describe_region",
    "GLASSER_NAMES",
    "NETWORK_NAMES",
]
