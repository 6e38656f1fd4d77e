"""Pictures of predictions, drawn with numpy and Pillow: glass brains and fsaverage5 surface views.

Every drawing is cached per view and size, so an animation costs a colour look-up per frame; animated
runs share one set of colour limits over all their frames. :func:`prediction_frames` draws a prediction as
the web viewer colours it (what every face exports); the GIF and MP4 writers are in
:mod:`nforge_app.export`.
"""

from nforge_app.viz._attribution import (
    RGB_LEGEND,
    RGB_MODALITIES,
    attribution_frames,
    attribution_rgb,
    roi_modality_scores,
)
from nforge_app.viz._colors import COLORMAPS, Colormap, color_limits, get_colormap
from nforge_app.viz._frames import (
    PICTURES,
    picture_options,
    picture_title,
    prediction_frames,
    stimulus_name,
)
from nforge_app.viz._panels import attention_payload, attribution_payload, default_regions
from nforge_app.viz._viewer import (
    VIEWER_COLORMAPS,
    evaluation_payload,
    geometry_payload,
    pack_payload,
    prediction_payload,
    quantise,
    unpack_payload,
    value_stats,
    value_unit,
    viewer_limits,
)
from nforge_app.viz.glass import VIEW_LETTERS, check_glass_views, glass_brain_frames, plot_glass_brain
from nforge_app.viz.surface import (
    DEFAULT_VIEWS,
    SURFACE_VIEWS,
    VIEW_GROUPS,
    check_views,
    render_surface,
    surface_frames,
)

__all__ = [
    "RGB_LEGEND",
    "RGB_MODALITIES",
    "attribution_frames",
    "attribution_rgb",
    "roi_modality_scores",
    "plot_glass_brain",
    "glass_brain_frames",
    "check_glass_views",
    "VIEW_LETTERS",
    "render_surface",
    "surface_frames",
    "check_views",
    "SURFACE_VIEWS",
    "VIEW_GROUPS",
    "DEFAULT_VIEWS",
    "prediction_frames",
    "picture_options",
    "picture_title",
    "stimulus_name",
    "value_unit",
    "PICTURES",
    "get_colormap",
    "color_limits",
    "Colormap",
    "COLORMAPS",
    "geometry_payload",
    "prediction_payload",
    "evaluation_payload",
    "pack_payload",
    "unpack_payload",
    "quantise",
    "value_stats",
    "viewer_limits",
    "VIEWER_COLORMAPS",
    "attention_payload",
    "attribution_payload",
    "default_regions",
]
