"""The sheet every picture is drawn on: view tiles in a grid, a header (title, time) and a colour bar.

The static parts are drawn once into a template; a frame is a copy of the template with the data pixels
written in and the time label drawn.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nforge_app.errors import UserInputError
from nforge_app.viz._colors import Colormap

BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
MUTED = (120, 120, 120)


@functools.lru_cache(maxsize=16)
def font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size_px`` (a bitmap font on Pillow builds without FreeType)."""
    return ImageFont.load_default(size=size_px)


def check_size(size_px) -> None:
    """Refuse view sizes that are not a whole number of pixels between 64 and 4096."""
    if not isinstance(size_px, int | np.integer) or not 64 <= size_px <= 4096:
        raise UserInputError(f"size_px must be an integer between 64 and 4096, got {size_px!r}")


def font_size_for(size_px: int) -> int:
    """Text size that reads well next to views of ``size_px``."""
    return max(11, round(size_px / 30))


def frame_labels(times_s, n_frames: int) -> list[str]:
    """The time label of each frame: ``"t = 12.0 s"``, or ``"frame k / T"`` without times."""
    if times_s is None:
        return [f"frame {k + 1} / {n_frames}" for k in range(n_frames)]
    times = np.asarray(times_s, dtype=np.float64)
    if times.shape != (n_frames,):
        raise UserInputError(f"times_s must have one time per frame ({n_frames}), got shape {times.shape}")
    return [f"t = {t:.1f} s" for t in times]


@dataclass(frozen=True)
class TileLabel:
    """Text drawn on a tile at ``xy`` (tile pixels) with a Pillow text ``anchor`` (``"la"``, ``"mm"``...)."""

    text: str
    xy: tuple[float, float]
    anchor: str = "la"


class Sheet:
    """Places view tiles in a grid (cells as wide as their column's widest tile), a header and a colour bar.

    Parameters
    ----------
    tile_shapes : list of (height, width)
        One per view, in reading order; each is centred in its grid cell.
    ncols : int
        Views per row.
    font_px : int
        Text size.
    header : bool
        Keep a band at the top for a title and a time label.
    """

    def __init__(self, tile_shapes: list[tuple[int, int]], ncols: int, font_px: int, header: bool) -> None:
        self.font_px = font_px
        self.margin = max(4, font_px // 2)
        rows = [tile_shapes[i:i + ncols] for i in range(0, len(tile_shapes), ncols)]
        col_w = [max(w for _, w in tile_shapes[c::ncols]) for c in range(min(ncols, len(tile_shapes)))]
        col_left = np.concatenate([[0], np.cumsum(col_w)]).tolist()
        self.header_h = round(font_px * 1.9) if header else self.margin
        self.origins = []  # (top, left) of each tile, centred in its cell
        top = self.header_h
        for row in rows:
            height = max(h for h, _ in row)
            for col, (h, w) in enumerate(row):
                self.origins.append((top + (height - h) // 2, col_left[col] + (col_w[col] - w) // 2))
            top += height
        self.grid_w = col_left[-1]
        self.grid_bottom = top
        self.tile_shapes = list(tile_shapes)
        self.bar_w = max(8, round(font_px * 0.8))
        self.width = self.grid_w + self.bar_w + 2 * self.margin + round(font_px * 4.2)
        self.height = self.grid_bottom + self.margin

    def flat_indices(self, tile: int, pixels: np.ndarray) -> np.ndarray:
        """Sheet flat indices of a tile's flat pixel indices."""
        top, left = self.origins[tile]
        tile_w = self.tile_shapes[tile][1]
        rows, cols = np.divmod(pixels, tile_w)
        return (rows + top) * self.width + cols + left

    def template(self, tiles: list[np.ndarray], labels: list[list[TileLabel]], cmap: Colormap, vmin: float,
                 vmax: float, title: str | None) -> np.ndarray:
        """Draw the static parts: tile images (uint8 (h, w, 3)), their labels, the title and the colour bar."""
        sheet = np.empty((self.height, self.width, 3), dtype=np.uint8)
        sheet[:] = BACKGROUND
        for (top, left), tile in zip(self.origins, tiles, strict=True):
            sheet[top:top + tile.shape[0], left:left + tile.shape[1]] = tile
        image = Image.fromarray(sheet)
        draw = ImageDraw.Draw(image)
        small = font(max(9, round(self.font_px * 0.85)))
        for (top, left), tile_labels in zip(self.origins, labels, strict=True):
            for label in tile_labels:
                draw.text((left + label.xy[0], top + label.xy[1]), label.text, fill=MUTED, font=small,
                          anchor=label.anchor)
        if title:
            draw.text((self.margin, self.header_h // 2), title, fill=INK, font=font(self.font_px), anchor="lm")
        self._colorbar(image, draw, cmap, vmin, vmax)
        return np.asarray(image).copy()

    def _colorbar(self, image: Image.Image, draw: ImageDraw.ImageDraw, cmap: Colormap, vmin: float,
                  vmax: float) -> None:
        grid_h = self.grid_bottom - self.header_h
        bar_h = max(40, round(grid_h * 0.7))
        top = self.header_h + (grid_h - bar_h) // 2
        left = self.grid_w + self.margin
        rows = np.linspace(255, 0, bar_h).round().astype(np.uint8)  # high values at the top
        bar = np.repeat(cmap.lut[rows][:, None, :], self.bar_w, axis=1)
        image.paste(Image.fromarray(bar), (left, top))
        draw.rectangle((left - 1, top - 1, left + self.bar_w, top + bar_h), outline=MUTED)
        ticks = [vmin, vmax]
        if vmin < 0 < vmax:
            ticks.append(0.0)
        text_font = font(max(9, round(self.font_px * 0.85)))
        for value in ticks:
            y = top + (vmax - value) / (vmax - vmin) * (bar_h - 1)
            draw.line((left + self.bar_w, y, left + self.bar_w + 3, y), fill=MUTED)
            draw.text((left + self.bar_w + 5, y), f"{value:.3g}", fill=INK, font=text_font, anchor="lm")


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) as one uint32 per colour (RGBA bytes, opaque): gathers of packed colours are fast."""
    rgba = np.empty(rgb.shape[:-1] + (4,), dtype=np.uint8)
    rgba[..., :3] = rgb
    rgba[..., 3] = 255
    return rgba.view(np.uint32)[..., 0]


class Canvas:
    """A template and where the data go: ``pixels`` (flat sheet indices) get one packed colour each per frame.

    Parameters
    ----------
    template : ndarray of uint8 (H, W, 3)
        The static picture.
    pixels : ndarray of int (P,)
        Flat indices of the pixels that each frame paints.
    sheet : Sheet
        Where the header is (for the time label).
    """

    def __init__(self, template: np.ndarray, pixels: np.ndarray, sheet: Sheet) -> None:
        self.template = pack_rgb(template)
        self.pixels = pixels
        self.font_px, self.margin, self.header_h = sheet.font_px, sheet.margin, sheet.header_h

    def under_pixels(self) -> np.ndarray:
        """The template's packed colours under ``pixels`` (what shows where a frame draws nothing)."""
        return self.template.ravel()[self.pixels]

    def render(self, colors: np.ndarray, time_label: str | None = None) -> Image.Image:
        """The template with packed ``colors`` (uint32 (P,)) at ``pixels`` and ``time_label`` top right."""
        sheet = self.template.copy()
        sheet.ravel()[self.pixels] = colors
        height, width = sheet.shape
        image = Image.frombuffer("RGBA", (width, height), sheet, "raw", "RGBA", 0, 1).convert("RGB")
        if time_label:
            ImageDraw.Draw(image).text((width - self.margin, self.header_h // 2), time_label, fill=INK,
                                       font=font(self.font_px), anchor="rm")
        return image
