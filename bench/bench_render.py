"""Rendering and animated exports: glass brain frames, surface frames, GIF and MP4 (numpy + Pillow + ffmpeg).

Targets: glass brain >= 10 frames/s at 480 px ("lyrz"); a GIF of 60 TRs x 4 surface views at 640 px in
<= 5 s including encoding, after the one-time rasterisation (reported on its own). Run:
``.venv/bin/python bench/bench_render.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import media_helpers, report

N_TRS = 60
TR_S = 1.49


def _smooth_run(coords: np.ndarray, seed: int) -> np.ndarray:
    """(N_TRS, N) activity: a few blobs in space, each with its own slow time course, plus noise."""
    rng = np.random.default_rng(seed)
    centres = coords[rng.choice(len(coords), 8, replace=False)]
    blobs = np.exp(-((coords[None] - centres[:, None]) ** 2).sum(axis=2) / (2 * 20.0 ** 2))  # (8, N)
    courses = np.sin(np.arange(N_TRS)[:, None] * rng.uniform(0.05, 0.4, 8) + rng.uniform(0, 6, 8))  # (T, 8)
    return (courses @ blobs + 0.1 * rng.standard_normal((N_TRS, len(coords)))).astype(np.float32)


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    from nforge_app.export._media import write_gif, write_mp4
    from nforge_app.spaces import get_space, load_fsaverage5
    from nforge_app.viz import glass_brain_frames, plot_glass_brain, surface_frames
    from nforge_app.viz.surface import DEFAULT_VIEWS, _view_raster

    times = np.arange(N_TRS) * TR_S
    _, mesh_s = _timed(load_fsaverage5)
    parcels = _smooth_run(np.asarray(get_space("schaefer1000").centroids_mni), 0)
    vertices = _smooth_run(np.asarray(load_fsaverage5().surfaces["pial"][0]), 1)

    _, glass_setup_s = _timed(lambda: plot_glass_brain(parcels[0], views="lyrz", size_px=480))
    glass, glass_s = _timed(lambda: glass_brain_frames(parcels, times_s=times, views="lyrz", size_px=480))
    raster_s = sum(_timed(lambda v=view: _view_raster("inflated", v, 640))[1] for view in DEFAULT_VIEWS)
    surface, surface_s = _timed(lambda: surface_frames(vertices, times_s=times, size_px=640))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _, gif_s = _timed(lambda: write_gif(surface, tmp / "surface.gif", TR_S))
        gif_mb = (tmp / "surface.gif").stat().st_size / 1e6
        _, glass_gif_s = _timed(lambda: write_gif(glass, tmp / "glass.gif", TR_S))
        audio = media_helpers().make_audio(tmp / "tone.m4a", N_TRS * TR_S + 2)
        _, mp4_s = _timed(lambda: write_mp4(surface, tmp / "surface.mp4", TR_S, audio_path=audio))
        mp4_mb = (tmp / "surface.mp4").stat().st_size / 1e6

    width, height = surface[0].size
    report("render", [
        ("load fsaverage5 mesh (once per process)", mesh_s, "s", ""),
        ("glass brain: first picture (outline + disc layout)", glass_setup_s, "s", ""),
        (f"glass brain frames, lyrz 480 px ({glass[0].size[0]}x{glass[0].size[1]})", N_TRS / glass_s, "fps",
         ">= 10"),
        ("glass brain GIF, 60 frames, encoding", glass_gif_s, "s", ""),
        ("surface: rasterise 4 views at 640 px (once, cached)", raster_s, "s", ""),
        (f"surface frames, 60 TRs x 4 views ({width}x{height})", surface_s, "s", ""),
        ("surface GIF encoding (60 frames)", gif_s, "s", ""),
        ("surface GIF total: frames + encoding", surface_s + gif_s, "s", "<= 5"),
        ("surface GIF size", gif_mb, "MB", ""),
        ("surface MP4, 25 fps + AAC audio (89.4 s of video)", mp4_s, "s", ""),
        ("surface MP4 size", mp4_mb, "MB", ""),
    ], extra={"n_trs": N_TRS, "tr_s": TR_S, "cpu_count": os.cpu_count()})


if __name__ == "__main__":
    main()
