"""The sheet every picture is drawn on: view tiles in a grid, a header, a colour bar and a time axis.

* :class:`Grid` places the view tiles: each has a caption above it and, in its own margins, the letters
  that say which way the brain faces (L/R, A/P), so that no text is ever drawn over the brain.
* :class:`Sheet` adds the rest around the grid: the title and the time of the frame in a header, the colour
  bar with its ticks and its unit on the right, and, for animations, a time axis below (ticks, the axis's
  name, a marker at the frame's time).
* :class:`Canvas` is the static picture (drawn once) and where the data go; a frame is a copy of it with the
  data pixels written in and the frame's time drawn.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nforge_app.checks import check_range
from nforge_app.errors import UserInputError
from nforge_app.viz._colors import Colormap

BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
MUTED = (120, 120, 120)
DEFAULT_TIME_AXIS = "time (s)"


@functools.lru_cache(maxsize=16)
def font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size_px`` (a bitmap font on Pillow builds without FreeType)."""
    return ImageFont.load_default(size=size_px)


def check_size(size_px) -> int:
    """``size_px`` as a whole number of pixels between 64 and 4096; else ``UserInputError``."""
    return check_range("size_px", size_px, 64, 4096, integer=True)


def font_size_for(size_px: int) -> int:
    """Text size that reads well next to views of ``size_px``."""
    return max(11, round(size_px / 30))


def _small(font_px: int) -> int:
    return max(9, round(font_px * 0.85))


def _text_width(text: str, size_px: int) -> int:
    return math.ceil(font(size_px).getlength(text)) if text else 0


def fit_text(text: str, size_px: int, width_px: int) -> str:
    """``text`` cut at a word (with "…") so that it fits ``width_px`` at ``size_px``."""
    if _text_width(text, size_px) <= width_px:
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        shorter = " ".join(words).rstrip(" ·,;:") + "…"
        if _text_width(shorter, size_px) <= width_px:
            return shorter
    return "…"


@dataclass(frozen=True)
class Tile:
    """One view in a grid: its image size, the caption above it and its side letters (left, right, top, bottom)."""

    shape: tuple[int, int]
    caption: str = ""
    letters: tuple[str, str, str, str] = ("", "", "", "")


class Grid:
    """View tiles in rows and columns; each cell is a caption band, then the tile with its letters around it.

    Parameters
    ----------
    tiles : list of Tile
        In reading order; each is centred in its grid cell.
    ncols : int
        Views per row.
    size_px : int
        The size the views were drawn for (the text is sized to go with it).
    """

    def __init__(self, tiles: Sequence[Tile], ncols: int, size_px: int) -> None:
        font_px = font_size_for(size_px)
        self.tiles, self.font_px = list(tiles), font_px
        small = _small(font_px)
        self.caption_h = round(small * 1.6) if any(tile.caption for tile in tiles) else 0
        self.letter_band = round(small * 1.4)
        # (left, right, top, bottom) padding of each tile: a band where it has a letter
        self.pads = [tuple(self.letter_band if letter else 0 for letter in tile.letters) for tile in tiles]
        cells = [(self.caption_h + pt + h + pb, pl + w + pr)
                 for tile, (pl, pr, pt, pb) in zip(tiles, self.pads, strict=True) for h, w in [tile.shape]]
        col_w = [max(w for _, w in cells[c::ncols]) for c in range(min(ncols, len(cells)))]
        gap = self.letter_band // 2  # between columns, so that two views' letters never touch
        col_left = np.concatenate([[0], np.cumsum(np.add(col_w, gap))]).astype(int).tolist()
        self.origins: list[tuple[int, int]] = []  # (top, left) of each tile image, in grid pixels
        top = 0
        for start in range(0, len(cells), ncols):
            row_h = max(h for h, _ in cells[start:start + ncols])
            for col, index in enumerate(range(start, min(start + ncols, len(cells)))):
                (cell_h, cell_w), (pl, _, pt, _) = cells[index], self.pads[index]
                self.origins.append((top + (row_h - cell_h) // 2 + self.caption_h + pt,
                                     col_left[col] + (col_w[col] - cell_w) // 2 + pl))
            top += row_h
        self.width, self.height = col_left[-1] - gap, top

    def flat_indices(self, tile: int, pixels: np.ndarray) -> np.ndarray:
        """Grid flat indices (``row * width + col``) of a tile's flat pixel indices."""
        top, left = self.origins[tile]
        rows, cols = np.divmod(pixels, self.tiles[tile].shape[1])
        return (rows + top) * self.width + cols + left

    def draw(self, draw: ImageDraw.ImageDraw, top: int) -> None:
        """Captions and side letters, with the grid's top at sheet row ``top``."""
        small = font(_small(self.font_px))
        for tile, (tile_top, left), (_, _, pt, _) in zip(self.tiles, self.origins, self.pads, strict=True):
            (h, w), y = tile.shape, top + tile_top
            if tile.caption:
                draw.text((left + w / 2, y - pt - self.caption_h / 2), tile.caption, fill=INK, font=small,
                          anchor="mm")
            half = self.letter_band / 2
            places = ((left - half, y + h / 2), (left + w + half, y + h / 2), (left + w / 2, y - half),
                      (left + w / 2, y + h + half))
            for letter, xy in zip(tile.letters, places, strict=True):
                if letter:
                    draw.text(xy, letter, fill=MUTED, font=small, anchor="mm")


@dataclass(frozen=True)
class FrameTimes:
    """What each frame of an animation says about time: a label in the header, and a time axis when the
    times are known (``times_s``, with ``axis_label`` saying what they are)."""

    labels: tuple[str, ...]
    times_s: np.ndarray | None
    axis_label: str


def frame_times(times_s, n_frames: int, axis_label: str | None = None) -> FrameTimes:
    """The time of each frame: ``"t = 12.0 s"`` on a time axis named ``axis_label``, or ``"frame k / T"``."""
    if times_s is None:
        return FrameTimes(tuple(f"frame {k + 1} / {n_frames}" for k in range(n_frames)), None, "")
    times = np.asarray(times_s, dtype=np.float64)
    if times.shape != (n_frames,) or not np.isfinite(times).all():
        raise UserInputError(f"times_s must have one finite time per frame ({n_frames}), got shape {times.shape}")
    return FrameTimes(tuple(f"t = {t:.1f} s" for t in times), times, axis_label or DEFAULT_TIME_AXIS)


def _nice_step(span: float, max_ticks: int) -> float:
    """The smallest of 1, 2, 5 x 10^k that puts at most ``max_ticks`` ticks on ``span``."""
    raw = span / max(1, max_ticks - 1)
    magnitude = 10.0 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


class _TimeAxis:
    """A horizontal time axis across the sheet's bottom band: ticks, the axis's name and a frame marker."""

    def __init__(self, times: FrameTimes, left: int, right: int, top: int, font_px: int) -> None:
        self.times, self.font_px = times, font_px
        small = _small(font_px)
        self.t0 = float(times.times_s[0])
        self.t1 = float(times.times_s[-1]) if times.times_s[-1] > times.times_s[0] else self.t0 + 1.0
        self.left, self.right = left, right
        self.marker = max(4, round(small * 0.45))
        self.y = top + self.marker + 3

    def x(self, t: float) -> float:
        return self.left + (t - self.t0) / (self.t1 - self.t0) * (self.right - self.left)

    def draw(self, draw: ImageDraw.ImageDraw) -> None:
        small = font(_small(self.font_px))
        draw.line((self.left, self.y, self.right, self.y), fill=MUTED, width=1)
        step = _nice_step(self.t1 - self.t0, max(2, (self.right - self.left) // (5 * _small(self.font_px))))
        for k in range(math.ceil(self.t0 / step - 1e-9), math.floor(self.t1 / step + 1e-9) + 1):
            x = self.x(k * step)
            draw.line((x, self.y, x, self.y + 3), fill=MUTED)
            draw.text((x, self.y + 4), f"{k * step:g}", fill=INK, font=small, anchor="ma")
        draw.text(((self.left + self.right) / 2, self.y + 5 + round(_small(self.font_px) * 1.25)),
                  self.times.axis_label, fill=MUTED, font=small, anchor="ma")

    def mark(self, draw: ImageDraw.ImageDraw, step: int) -> None:
        x = self.x(float(self.times.times_s[step]))
        draw.line((self.left, self.y, x, self.y), fill=INK, width=3)
        size = self.marker
        draw.polygon([(x - size, self.y - size - 2), (x + size, self.y - size - 2), (x, self.y - 1)], fill=INK)

    @staticmethod
    def height(font_px: int) -> int:
        small = _small(font_px)
        return round(small * 3.3) + max(4, round(small * 0.45)) + 6


class Sheet:
    """The whole picture around a :class:`Grid`: header (title, time), colour bar (ticks, unit), time axis.

    Parameters
    ----------
    grid : Grid
        The views.
    cmap, vmin, vmax :
        The colour map and limits the colour bar shows.
    title : str, optional
        Text at the top left (cut at a word when it would run into the time label).
    unit : str, optional
        What the values are, written along the colour bar.
    times : FrameTimes, optional
        For animations: the label of each frame (top right) and, with times, a time axis below the views.
    header : bool
        Keep a band at the top (for a title or a time label).
    """

    def __init__(self, grid: Grid, cmap: Colormap, vmin: float, vmax: float, title: str | None = None,
                 unit: str | None = None, times: FrameTimes | None = None, header: bool = True) -> None:
        self.grid, self.cmap, self.vmin, self.vmax, self.unit, self.times = grid, cmap, vmin, vmax, unit, times
        font_px = self.font_px = grid.font_px
        small = _small(font_px)
        self.margin = max(4, font_px // 2)
        self.header_h = round(font_px * 1.9) if header else self.margin
        self.ticks = [vmin, vmax] + ([0.0] if vmin < 0 < vmax else [])
        self.bar_w = max(8, round(font_px * 0.8))
        tick_w = max(_text_width(f"{value:.3g}", small) for value in self.ticks)
        unit_len = _text_width(unit or "", small)
        self.bar_h = max(40, round(grid.height * 0.7), unit_len + 8)
        body_h = max(grid.height, self.bar_h + 2 * self.margin)
        self.bar_left = grid.width + self.margin
        self.unit_x = self.bar_left + self.bar_w + 7 + tick_w + round(small * 0.9)
        self.width = self.unit_x + (round(small * 0.9) if unit else 0) + self.margin
        self.bar_top = self.header_h + (body_h - self.bar_h) // 2
        self.body_top = self.header_h + (body_h - grid.height) // 2  # the grid's top row
        footer_top = self.header_h + body_h
        self.axis = None
        if times is not None and times.times_s is not None:
            edge = self.margin + _text_width(f"{times.times_s[-1]:.0f}0", small) // 2
            self.axis = _TimeAxis(times, edge, self.width - edge, footer_top, font_px)
            footer_top += _TimeAxis.height(font_px)
        self.height = footer_top + self.margin
        label_w = max((_text_width(label, font_px) for label in times.labels), default=0) if times else 0
        self.title = fit_text(title, font_px, self.width - 3 * self.margin - label_w) if title else None

    def tile_origin(self, tile: int) -> tuple[int, int]:
        """(top, left) of a tile's image in the sheet."""
        top, left = self.grid.origins[tile]
        return self.body_top + top, left

    def sheet_indices(self, grid_indices: np.ndarray) -> np.ndarray:
        """Sheet flat indices of grid flat indices."""
        rows, cols = np.divmod(grid_indices, self.grid.width)
        return (rows + self.body_top) * self.width + cols

    def template(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Draw the static parts: tile images (uint8 (h, w, 3)), captions and letters, title, colour bar, axis."""
        sheet = np.empty((self.height, self.width, 3), dtype=np.uint8)
        sheet[:] = BACKGROUND
        for (top, left), tile in zip(self.grid.origins, images, strict=True):
            sheet[self.body_top + top:self.body_top + top + tile.shape[0], left:left + tile.shape[1]] = tile
        image = Image.fromarray(sheet)
        draw = ImageDraw.Draw(image)
        self.grid.draw(draw, self.body_top)
        if self.title:
            draw.text((self.margin, self.header_h // 2), self.title, fill=INK, font=font(self.font_px), anchor="lm")
        self._colorbar(image, draw)
        if self.axis is not None:
            self.axis.draw(draw)
        return np.asarray(image).copy()

    def _colorbar(self, image: Image.Image, draw: ImageDraw.ImageDraw) -> None:
        left, top, bar_h, small = self.bar_left, self.bar_top, self.bar_h, _small(self.font_px)
        rows = np.linspace(255, 0, bar_h).round().astype(np.uint8)  # high values at the top
        image.paste(Image.fromarray(np.repeat(self.cmap.lut[rows][:, None, :], self.bar_w, axis=1)), (left, top))
        draw.rectangle((left - 1, top - 1, left + self.bar_w, top + bar_h), outline=MUTED)
        for value in self.ticks:
            y = top + (self.vmax - value) / (self.vmax - self.vmin) * (bar_h - 1)
            draw.line((left + self.bar_w, y, left + self.bar_w + 3, y), fill=MUTED)
            draw.text((left + self.bar_w + 5, y), f"{value:.3g}", fill=INK, font=font(small), anchor="lm")
        if self.unit:  # along the bar, read from bottom to top
            width, height = _text_width(self.unit, small) + 2, round(small * 1.4)
            label = Image.new("L", (width, height), 0)
            ImageDraw.Draw(label).text((1, height / 2), self.unit, fill=255, font=font(small), anchor="lm")
            label = label.rotate(90, expand=True)
            image.paste(Image.new("RGB", label.size, MUTED),
                        (self.unit_x - label.width // 2, top + (bar_h - label.height) // 2), label)

    def overlay(self, image: Image.Image, step: int | None) -> None:
        """Draw what changes with each frame: its time label (top right) and the marker on the time axis."""
        if step is None or self.times is None:
            return
        draw = ImageDraw.Draw(image)
        draw.text((self.width - self.margin, self.header_h // 2), self.times.labels[step], fill=INK,
                  font=font(self.font_px), anchor="rm")
        if self.axis is not None:
            self.axis.mark(draw, step)


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
    sheet : Sheet
        The layout; its template is drawn with ``images``.
    images : sequence of ndarray
        The tile images (uint8 (h, w, 3)), in the grid's order.
    grid_pixels : ndarray of int (P,)
        Grid flat indices of the pixels that each frame paints.
    """

    def __init__(self, sheet: Sheet, images: Sequence[np.ndarray], grid_pixels: np.ndarray) -> None:
        self.sheet = sheet
        self.template = pack_rgb(sheet.template(images))
        self.pixels = sheet.sheet_indices(grid_pixels)

    def under_pixels(self) -> np.ndarray:
        """The template's packed colours under ``pixels`` (what shows where a frame draws nothing)."""
        return self.template.ravel()[self.pixels]

    def render(self, colors: np.ndarray, step: int | None = None) -> Image.Image:
        """The template with packed ``colors`` (uint32 (P,)) at ``pixels``, and frame ``step``'s time drawn."""
        sheet = self.template.copy()
        sheet.ravel()[self.pixels] = colors
        height, width = sheet.shape
        image = Image.frombuffer("RGBA", (width, height), sheet, "raw", "RGBA", 0, 1).convert("RGB")
        self.sheet.overlay(image, step)
        return image


class Painter:
    """Draws values with a fixed layout and colour limits: ``frame(values)`` gives one picture.

    Parameters
    ----------
    grid : Grid
        The views.
    images : sequence of ndarray
        The tile images, in the grid's order.
    grid_pixels : ndarray of int (P,)
        Grid flat indices of the pixels that the data colour.
    cmap, vmin, vmax, threshold :
        How values are coloured (values under the threshold are not drawn).
    sheet_text : dict
        ``title``, ``unit``, ``times`` and ``header`` of the :class:`Sheet`.
    """

    def __init__(self, grid: Grid, images: Sequence[np.ndarray], grid_pixels: np.ndarray, cmap: Colormap,
                 vmin: float, vmax: float, threshold: float | None, sheet_text: dict) -> None:
        self.canvas = Canvas(Sheet(grid, cmap, vmin, vmax, **sheet_text), images, grid_pixels)
        self.cmap, self.vmin, self.vmax, self.threshold = cmap, vmin, vmax, threshold

    def colors(self, values: np.ndarray) -> np.ndarray:
        """Packed colour (uint32) of every pixel of ``canvas.pixels`` for ``values``."""
        raise NotImplementedError

    def frame(self, values: np.ndarray, step: int | None = None) -> Image.Image:
        """The picture of ``values`` (frame ``step`` of an animation, whose time it shows)."""
        return self.canvas.render(self.colors(values), step)

    def frames(self, data: np.ndarray) -> list[Image.Image]:
        """One picture per row of ``data``, each with its time."""
        return [self.frame(row, step) for step, row in enumerate(data)]


def frames_data(data, what: str) -> np.ndarray:
    """``data`` as float32 (time, ``what``) with at least one row; else ``UserInputError``."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2 or data.shape[0] == 0:
        raise UserInputError(f"data must be (time, {what}) with at least one row, got shape {data.shape}")
    return data
