"""Batch prediction: 20 lite clips of 30 s (video, speech, a transcript beside each) in four ways.

- a shell loop of ``nforge predict`` (each call pays imports and model loading);
- ``nforge batch`` with the local engine (one process; decoding overlapped with the model);
- ``nforge batch --engine ray --workers 2``, which starts a local Ray cluster;
- the same on a cluster already running (``ray start --head``, then ``--address``), as on a real cluster.

Each way runs in fresh processes with a cache of its own. Targets (issue #18): the local batch at least 1.5x
the shell loop's throughput; Ray with 2 workers at least 0.9x the local batch. Also measured in one process
with the models loaded: ``Engine.predict`` one by one against ``Engine.predict_many`` (the overlap alone).
Run: ``.venv/bin/python bench/bench_batch.py [--clips N]`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import media_helpers, report

REPO = Path(__file__).resolve().parents[1]
TEXT = "The quick brown fox jumps over the lazy dog while a small boat drifts across the quiet lake. "
SECONDS = 30.0


def _cues(seconds: float) -> str:
    """An SRT transcript with a word every half second."""
    words = TEXT.split() * 8
    return "".join(f"{i + 1}\n00:00:{i // 2:02d},{(i % 2) * 500:03d} --> 00:00:{i // 2:02d},{(i % 2) * 500 + 450:03d}\n"
                   f"{words[i]}\n\n" for i in range(int(2 * seconds)))


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, NFORGE_CACHE_DIR=str(cache), RAY_USAGE_STATS_ENABLED="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _batch(clips: Path, out: Path, env: dict[str, str], *extra: str, first: int = 1) -> tuple[float, float]:
    """Wall-clock seconds of ``nforge batch``, and its steady pace: seconds per stimulus after the first
    ``first`` results (start-up and model loading left out), from the report's finishing times."""
    seconds = _timed([sys.executable, "-m", "nforge_app", "batch", str(clips), "--out", str(out), "--quiet", *extra],
                     env)
    counts = json.loads((out / "batch_summary.json").read_text())["counts"]
    assert counts["ok"] == counts["total"], counts
    with open(out / "batch_report.csv", newline="") as handle:
        finished = sorted(float(row["finished_s"]) for row in csv.DictReader(handle))
    return seconds, (finished[-1] - finished[first - 1]) / (len(finished) - first)


def _overlap(clips: list[Path], work: Path) -> tuple[float, float]:
    """Seconds for the clips in one process with warm models: predict one by one, then predict_many."""
    from nforge_app.config import Settings
    from nforge_app.engine import Engine

    times = []
    for name in ("one-by-one", "many"):
        engine = Engine(Settings.from_env(cache_dir=work / f"cache-{name}"), device="cpu")
        engine.predict(clips[0], "nforge-lite")  # loads the sentence model, the mesh and the region weights
        started = time.perf_counter()
        if name == "many":
            list(engine.predict_many(clips[1:], "nforge-lite"))
        else:
            for clip in clips[1:]:
                engine.predict(clip, "nforge-lite")
        times.append(time.perf_counter() - started)
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    args = parser.parse_args()
    media = media_helpers()
    ray_cli = Path(sys.executable).with_name("ray")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips_dir = work / "clips"
        clips_dir.mkdir()
        base = media.make_video(work / "base.mp4", SECONDS, size=(320, 240), text=TEXT)
        clips = []
        for i in range(args.clips):
            # Distinct bytes (so distinct content hashes) without encoding each clip again.
            clip = clips_dir / f"clip{i:02d}.mp4"
            media.ffmpeg("-i", str(base), "-c", "copy", "-metadata", f"title=clip {i}", str(clip))
            (clips_dir / f"clip{i:02d}.srt").write_text(_cues(SECONDS), encoding="utf-8")
            clips.append(clip)

        env = _env(work / "cache-loop")
        started = time.perf_counter()
        for clip in clips:
            subprocess.run([sys.executable, "-m", "nforge_app", "predict", str(clip), "--out",
                            str(work / "loop" / f"{clip.stem}.npz"), "--quiet"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        loop_s = time.perf_counter() - started
        local_s, local_pace = _batch(clips_dir, work / "local", _env(work / "cache-local"))
        ray_s, ray_pace = _batch(clips_dir, work / "ray", _env(work / "cache-ray"), "--engine", "ray", "--workers", "2",
                                 first=2)

        cluster_env = _env(work / "cache-cluster")
        port = 6391
        subprocess.run([str(ray_cli), "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                        "--disable-usage-stats", "--node-ip-address=127.0.0.1"], env=cluster_env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        try:
            cluster_s, cluster_pace = _batch(clips_dir, work / "cluster", cluster_env, "--engine", "ray", "--workers",
                                             "2", "--address", f"127.0.0.1:{port}", first=2)
        finally:
            subprocess.run([str(ray_cli), "stop", "--force"], check=False, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)

        os.environ["NFORGE_CACHE_DIR"] = str(work / "cache-overlap")
        one_by_one_s, many_s = _overlap(clips, work)
        shutil.rmtree(work / "loop", ignore_errors=True)

    n = args.clips
    report("batch", [
        (f"shell loop of nforge predict, {n} clips", loop_s, "s", ""),
        (f"nforge batch, local engine, {n} clips", local_s, "s", ""),
        ("  throughput vs the shell loop", loop_s / local_s, "x", ">= 1.5"),
        ("  steady pace (after the first result)", local_pace, "s/clip", ""),
        (f"nforge batch, Ray, 2 workers, {n} clips (starts its cluster)", ray_s, "s", ""),
        ("  throughput vs local, end to end", local_s / ray_s, "x", ">= 0.9"),
        ("  steady pace (after the first 2 results)", ray_pace, "s/clip", ""),
        ("  steady throughput vs local", local_pace / ray_pace, "x", ">= 0.9"),
        (f"nforge batch, Ray, 2 workers, running cluster (--address), {n} clips", cluster_s, "s", ""),
        ("  throughput vs local, end to end", local_s / cluster_s, "x", ">= 0.9"),
        ("  steady throughput vs local", local_pace / cluster_pace, "x", ">= 0.9"),
        (f"one process, models loaded: predict one by one, {n - 1} clips", one_by_one_s, "s", ""),
        (f"one process, models loaded: predict_many, {n - 1} clips", many_s, "s", ""),
        ("  overlap gain", one_by_one_s / many_s, "x", ""),
    ], extra={"clips": n, "clip_seconds": SECONDS, "cpu_count": os.cpu_count(), "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
