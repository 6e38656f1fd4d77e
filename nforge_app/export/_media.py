"""Animated exports: GIF (Pillow) and MP4 (the ffmpeg bundled with imageio-ffmpeg), one frame per TR.

Both writers take the frames the viewers draw (``nforge_app.viz``) and write atomically: a failed or
interrupted export leaves no partial file.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from nforge_app._files import atomic_path
from nforge_app.checks import check_range
from nforge_app.errors import UserInputError

# Colours kept exactly in the GIF palette (the page, the glass, text): the most frequent ones.
_GREY_LEVELS = 32
_EXACT_COLORS = 24
_PALETTE_SAMPLE = 1 << 20  # pixels sampled over all frames to build the shared palette
DEFAULT_FPS = 25.0


def _rgb_frames(frames) -> list[np.ndarray]:
    frames = list(frames)
    if not frames:
        raise UserInputError("there are no frames to write")
    arrays = [np.asarray(frame.convert("RGB") if frame.mode != "RGB" else frame) for frame in frames]
    if len({a.shape for a in arrays}) != 1:
        raise UserInputError(f"all frames must have the same size, got {sorted({a.shape[1::-1] for a in arrays})}")
    return arrays


def _check_duration(frame_duration_s: float) -> float:
    if not np.isfinite(frame_duration_s) or frame_duration_s <= 0:
        raise UserInputError(f"frame_duration_s must be a positive number of seconds, got {frame_duration_s!r}")
    return float(frame_duration_s)


def gif_frame_duration_ms(frame_duration_s: float) -> int:
    """What a GIF can store for ``frame_duration_s``: whole centiseconds (1.49 s -> 1490 ms; 1.234 s -> 1230 ms).

    GIF delays are centiseconds, so TRs that are a multiple of 10 ms are exact and others are rounded to the
    nearest 10 ms (at least 20 ms, below which browsers ignore the delay).
    """
    return 10 * max(2, round(_check_duration(frame_duration_s) * 100))


def _key15(rgb: np.ndarray) -> np.ndarray:
    """15-bit colour key (5 bits per channel) of uint8 RGB (..., 3)."""
    r, g, b = (rgb[..., c] >> 3 for c in range(3))
    return (r.astype(np.uint16) << 10) | (g.astype(np.uint16) << 5) | b


def _shared_palette(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One 256-colour palette for every frame, and the palette index of each 15-bit colour key.

    The most frequent colours (page, outline, text) are kept exactly; a ramp of neutral greys keeps the
    shaded anatomy grey (a median cut alone tints it); the rest of the palette comes from a median cut
    over the distinct colours of a sample of all frames, so that rare data colours keep their own entries
    rather than being swamped by the background.
    """
    step = max(1, (len(arrays) * arrays[0].shape[0] * arrays[0].shape[1]) // _PALETTE_SAMPLE)
    sample = np.concatenate([a.reshape(-1, 3)[k % step::step] for k, a in enumerate(arrays)])
    keys, counts = np.unique(sample.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32),
                             return_counts=True)
    colors = np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)
    exact = colors[np.argsort(counts)[::-1][:_EXACT_COLORS]]
    greys = np.repeat(np.arange(4, 256, 256 // _GREY_LEVELS, dtype=np.uint8)[:, None], 3, axis=1)
    chroma = colors.astype(np.int16).max(axis=1) - colors.astype(np.int16).min(axis=1)
    rest = colors[chroma > 6]
    rest = rest[np.unique(_key15(rest), return_index=True)[1]]  # one colour per 15-bit cell
    exact = np.concatenate([exact, greys])
    n_rest = 256 - len(exact)
    if len(rest) > n_rest:
        quantized = Image.fromarray(rest[None]).quantize(n_rest, method=Image.Quantize.MEDIANCUT)
        rest = np.array(quantized.getpalette()[:3 * n_rest], dtype=np.uint8).reshape(-1, 3)
    palette = np.concatenate([exact, rest])[:256]
    # Nearest palette entry of the centre of every 15-bit cell; exact colours win their own cell.
    cells = np.arange(1 << 15)
    centres = np.stack([(cells >> 10) & 31, (cells >> 5) & 31, cells & 31], axis=1) * 8 + 4
    pal = palette.astype(np.int32)
    lookup = np.empty(1 << 15, dtype=np.uint8)
    for start in range(0, 1 << 15, 4096):
        d = ((centres[start:start + 4096, None, :] - pal[None]) ** 2).sum(axis=2)
        lookup[start:start + 4096] = d.argmin(axis=1)
    lookup[_key15(exact)] = np.arange(len(exact))
    return palette, lookup


def write_gif(frames, path: str | os.PathLike, frame_duration_s: float) -> Path:
    """Write frames as a looping GIF, each shown for one TR.

    Parameters
    ----------
    frames : sequence of PIL.Image.Image
        Frames of equal size (any mode; drawn as RGB).
    path : str or PathLike
        Target ``.gif`` file, written atomically.
    frame_duration_s : float
        How long each frame shows: the TR. Stored in whole centiseconds (see :func:`gif_frame_duration_ms`).

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    All frames share one palette built from a sample of every frame, so colours do not flicker between
    frames. Identical consecutive frames are merged by Pillow into one frame of the summed duration.
    """
    duration_ms = gif_frame_duration_ms(frame_duration_s)
    arrays = _rgb_frames(frames)
    palette, lookup = _shared_palette(arrays)
    flat_palette = np.zeros((256, 3), dtype=np.uint8)
    flat_palette[:len(palette)] = palette
    indexed = []
    for array in arrays:
        image = Image.fromarray(lookup[_key15(array)])
        image.putpalette(flat_palette.tobytes())  # "L" -> "P"
        indexed.append(image)
    path = Path(path)
    with atomic_path(path) as tmp:
        indexed[0].save(tmp, format="GIF", save_all=True, append_images=indexed[1:], duration=duration_ms, loop=0,
                        optimize=False)
    return path


def write_mp4(frames, path: str | os.PathLike, frame_duration_s: float, audio_path: str | os.PathLike | None = None,
              fps: float | None = None) -> Path:
    """Write frames as an H.264 MP4 in which each frame lasts one TR, with the stimulus sound if given.

    Parameters
    ----------
    frames : sequence of PIL.Image.Image
        Frames of equal size; odd widths or heights are padded by one pixel (H.264 4:2:0 needs even sizes).
    path : str or PathLike
        Target ``.mp4`` file, written atomically.
    frame_duration_s : float
        How long each frame shows: the TR.
    audio_path : str or PathLike, optional
        A video or audio file whose first audio stream is muxed in (AAC), cut to the length of the frames.
        A file without sound gives a silent MP4.
    fps : float, optional
        Output frame rate (25 by default; pass the stimulus video's rate to line the two up). Each frame is
        repeated for as many output frames as fall within its TR, from exact times, so nothing drifts.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    UserInputError
        No frames, frames of different sizes, a bad duration or rate, or a missing audio file.
    RuntimeError
        ffmpeg failed (its last messages are included).
    """
    import imageio_ffmpeg

    duration = _check_duration(frame_duration_s)
    rate = DEFAULT_FPS if fps is None else check_range("fps", fps, 1, 240)
    if audio_path is not None and not Path(audio_path).is_file():
        raise UserInputError(f"audio file not found: {audio_path}")
    arrays = _rgb_frames(frames)
    height, width = arrays[0].shape[:2]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    # The frames go in at one frame per TR (an exact fraction of ms), the fps filter repeats them.
    input_rate = Fraction(1000, max(1, round(duration * 1000)))
    total_s = len(arrays) * duration
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width + width % 2}x{height + height % 2}", "-framerate", str(input_rate), "-i", "pipe:0"]
    if audio_path is not None:
        command += ["-i", str(audio_path), "-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac", "-b:a", "160k"]
    # Convert to 4:2:0 before the fps filter repeats frames, so each frame is converted once.
    command += ["-vf", f"format=yuv420p,fps={rate:g}", "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage",
                "-crf", "20", "-pix_fmt", "yuv420p", "-t", f"{total_s:.3f}", "-movflags", "+faststart"]
    path = Path(path)
    with atomic_path(path) as tmp, tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command + [str(tmp)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=log)
        try:
            for array in arrays:
                process.stdin.write(np.pad(array, pad, mode="edge").tobytes() if any(p[1] for p in pad[:2])
                                    else array.tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped early; its exit status and log say why
        finally:
            process.stdin.close()
        if process.wait() != 0:
            log.seek(0)
            raise RuntimeError(f"ffmpeg could not write {path.name}: {log.read().decode(errors='replace')[-2000:]}")
    return path
