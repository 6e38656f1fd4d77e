"""Colour maps as 256-entry lookup tables, and colour limits shared by every frame of a run.

The built-in maps are written as anchor colours and interpolated once, so drawing a frame needs no
matplotlib. Any other matplotlib colour map name also works: it is sampled once (matplotlib imported only
then) and cached.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from nforge_app.errors import UserInputError

# Anchor colours, evenly spaced from the low end to the high end of each map.
_ANCHORS = {
    # nilearn's "cold_hot" look: cyan, blue, black at zero, red, yellow. For dark backgrounds.
    "cold_hot": ("#00ffff", "#0000ff", "#000000", "#ff0000", "#ffff00"),
    # ColorBrewer RdBu reversed: white at zero, so that weak values fade into a white page.
    "RdBu_r": ("#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582",
               "#d6604d", "#b2182b", "#67001f"),
    "hot": ("#0b0000", "#a00000", "#ff3000", "#ffb000", "#ffff40", "#ffffff"),
    "viridis": ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30",
                "#fde725"),
}
_DIVERGING_BUILTIN = {"cold_hot", "RdBu_r"}
# matplotlib maps centred on a neutral colour (get symmetric limits); "_r" variants included.
_DIVERGING_MPL = {"RdBu", "RdYlBu", "RdYlGn", "RdGy", "PiYG", "PRGn", "BrBG", "PuOr", "Spectral", "coolwarm",
                  "bwr", "seismic", "berlin", "managua", "vanimo"}
COLORMAPS = tuple(_ANCHORS)
DIVERGING_DEFAULT = "RdBu_r"


@dataclass(frozen=True, eq=False)
class Colormap:
    """A colour map ready to use: ``lut`` is uint8 (256, 3); ``diverging`` maps get limits symmetric around 0."""

    name: str
    lut: np.ndarray
    diverging: bool

    def indices(self, values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
        """LUT row (uint8) of each value, clipped to ``[vmin, vmax]``; NaN gives row 0 (mask it yourself)."""
        scale = 255.0 / (vmax - vmin) if vmax > vmin else 0.0
        rows = (np.asarray(values, dtype=np.float32) - np.float32(vmin)) * np.float32(scale) + np.float32(0.5)
        return np.clip(np.nan_to_num(rows, nan=0.0), 0, 255).astype(np.uint8)

    def colors(self, values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
        """uint8 RGB (..., 3) of each value."""
        return self.lut[self.indices(values, vmin, vmax)]

    def drawn(self, values: np.ndarray, threshold: float | None) -> np.ndarray:
        """Which values get a colour: finite ones, and with a threshold only ``|value| >= threshold``
        (``value >= threshold`` for sequential maps)."""
        shown = np.isfinite(values)
        if threshold is not None:
            magnitude = np.abs(values) if self.diverging else values
            shown &= np.nan_to_num(magnitude, nan=-np.inf) >= threshold
        return shown


def _hex_rgb(code: str) -> tuple[int, int, int]:
    return int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16)


def _lut_from_anchors(anchors: tuple[str, ...]) -> np.ndarray:
    rgb = np.array([_hex_rgb(code) for code in anchors], dtype=np.float64)
    stops = np.linspace(0.0, 1.0, len(anchors))
    x = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(x, stops, rgb[:, c]) for c in range(3)], axis=1)
    lut = np.round(lut).astype(np.uint8)
    lut.setflags(write=False)
    return lut


@functools.lru_cache(maxsize=32)
def get_colormap(name: str) -> Colormap:
    """The colour map called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`COLORMAPS` (no matplotlib needed) or any matplotlib colour map name.

    Returns
    -------
    Colormap

    Raises
    ------
    UserInputError
        When neither the built-in maps nor matplotlib know ``name``.
    """
    if name in _ANCHORS:
        return Colormap(name, _lut_from_anchors(_ANCHORS[name]), name in _DIVERGING_BUILTIN)
    try:
        import matplotlib

        sampled = matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3]
    except (ImportError, KeyError):
        raise UserInputError(f"unknown colour map {name!r}; accepted: {', '.join(COLORMAPS)} or any matplotlib "
                             f"colour map name (when matplotlib is installed)") from None
    lut = np.round(sampled * 255).astype(np.uint8)
    lut.setflags(write=False)
    return Colormap(name, lut, name.removesuffix("_r") in _DIVERGING_MPL)


def color_limits(data, cmap: Colormap, vmin: float | None = None, vmax: float | None = None,
                 percentile: float = 99.0) -> tuple[float, float]:
    """Colour limits for a whole run, so that every frame shares one colour bar.

    Parameters
    ----------
    data : array-like
        All the values that will be drawn (every frame); NaNs are ignored.
    cmap : Colormap
        Diverging maps get limits symmetric around 0 (``±`` the ``percentile`` of ``|data|``); sequential
        maps get the ``100 - percentile`` and ``percentile`` percentiles.
    vmin, vmax : float, optional
        Limits to use as given. With a diverging map, giving only one sets the other to its negative.
    percentile : float
        Robust upper percentile (99 by default: a few extreme values do not wash out the rest).

    Returns
    -------
    (vmin, vmax) : tuple of float
        With ``vmin < vmax`` (widened around a constant input).

    Raises
    ------
    UserInputError
        When ``vmin >= vmax`` is given, or when ``data`` has no finite value and no limits are given.
    """
    if vmin is not None and vmax is not None:
        if not vmin < vmax:
            raise UserInputError(f"vmin must be smaller than vmax, got vmin={vmin} and vmax={vmax}")
        return float(vmin), float(vmax)
    if cmap.diverging and (vmin is not None or vmax is not None):
        bound = abs(vmax if vmax is not None else vmin)
        return (-bound, bound) if bound > 0 else (-1.0, 1.0)
    values = np.asarray(data, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise UserInputError("the values to draw are all NaN or empty: give vmin and vmax, or finite values")
    if cmap.diverging:
        bound = float(np.percentile(np.abs(values), percentile))
        bound = bound if bound > 0 else float(np.abs(values).max()) or 1.0
        return -bound, bound
    low = float(np.percentile(values, 100.0 - percentile)) if vmin is None else float(vmin)
    high = float(np.percentile(values, percentile)) if vmax is None else float(vmax)
    if not low < high:
        if vmin is not None or vmax is not None:
            raise UserInputError(f"the colour limits would be empty (vmin={low:g}, vmax={high:g} from the data): "
                                 f"give both vmin and vmax")
        low, high = low - 1.0, low + 1.0  # constant values: any window around them shows them mid-map
    return low, high
