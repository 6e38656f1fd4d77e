"""The page under load: gradio_client users against a server on 127.0.0.1 (issue 17, item 6).

Each user sends a mix of requests one after another: new per-TR text predictions (nforge-lite), the same
per-TR text again (cached), predictions of a short clip of its own (new the first time, cached after),
exports (npz + csv) of its last prediction, and its attribution (the page's *Explain*: modality attribution
and ROI attention), when the engine has ``Engine.attribute``. Then, while a long new prediction runs (a 600-s clip, the longest the default limits take), a
cheap cached request is sent again and again: its latency says whether cached answers wait behind long jobs.

Reported: failures (target 0), p50/p95 latency per request kind, the server's peak RSS (``VmHWM`` of the
server process; ffmpeg children not counted), and the cached request's p95 while the long job runs (target
< 1 s). Full size: 8 users x 20 requests (``python bench/bench_load.py``); ``tests/hostile/test_load.py``
runs a reduced size in CI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from _common import media_helpers, report

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's nforge_app, as the server runs it
SERVE = ("from nforge_app.ui import launch; launch(server_name='127.0.0.1', server_port={port}, quiet=True, "
         "prevent_thread_lock=False)")
SHARED_TEXT = "\n".join(["the ship left the harbour", "", "gulls cried over the water", "the sea was calm"])
EXPORT_ARGS = ("surface", "inflated", ["lateral_left"], "symmetric", 20, 160)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """``nforge_app.ui.launch`` in a process of its own (its memory is measured apart from the clients')."""

    def __init__(self, cache: Path) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/"
        env = {**os.environ, "NFORGE_CACHE_DIR": str(cache), "GRADIO_ANALYTICS_ENABLED": "False",
               "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen([sys.executable, "-c", SERVE.format(port=port)], cwd=REPO, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(self.url, timeout=2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)

    def peak_rss_mb(self) -> float:
        return _peak_rss_mb(self.process.pid)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _predict(client, source: str, media=None, text: str = "") -> tuple[str, str]:
    from gradio_client import handle_file

    _, prediction_id, status, *_ = client.predict(source, handle_file(str(media)) if media else None, None, None,
                                                  text, 1.0, "nforge-lite", "average", [], api_name="/predict")
    if not prediction_id or "time steps" not in status:
        raise RuntimeError(f"the prediction failed: {status}")
    return prediction_id, status


def _user(url: str, user: int, n_requests: int, clip: Path, timings: dict, failures: list, lock) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    last_id = None
    kinds = ("new text", "cached text", "export", "clip") + (("explain",) if has_attribution() else ())
    for i in range(n_requests):
        kind = kinds[i % len(kinds)]
        start = time.perf_counter()
        try:
            if kind == "new text":
                last_id, _ = _predict(client, "per-TR text",
                                      text=f"user {user} request {i} heard the bell\n\nand the rain")
            elif kind == "cached text":
                last_id, _ = _predict(client, "per-TR text", text=SHARED_TEXT)
            elif kind == "clip":
                kind = "clip (new)" if i == 3 else "clip (cached)"
                last_id, _ = _predict(client, "media", media=clip)
            elif kind == "explain":  # attribution (and ROI attention) of the user's last prediction
                text, *_ = client.predict(last_id, api_name="/explain")
                if "Could not" in text:
                    raise RuntimeError(f"the attribution failed: {text}")
            else:
                files, note = client.predict(last_id, ["npz", "csv"], *EXPORT_ARGS, api_name="/export")
                if not files or len(files) != 2:
                    raise RuntimeError(f"the export failed: {note}")
        except Exception as error:  # noqa: BLE001 (a load test counts every failure and goes on)
            with lock:
                failures.append(f"user {user} request {i} ({kind}): {type(error).__name__}: {error}")
            continue
        with lock:
            timings[kind].append(time.perf_counter() - start)


def _cached_while_long_job(url: str, long_clip: Path, n_cached: int) -> tuple[list[float], float, bool]:
    """Latencies of cached requests sent one after another while a long new prediction runs (at most
    ``n_cached``); the long job's seconds; whether any cached answer came while it ran."""
    from gradio_client import Client

    long_client, client = Client(url, verbose=False), Client(url, verbose=False)
    _predict(client, "per-TR text", text=SHARED_TEXT)  # cached before the long job starts
    done, result = threading.Event(), {}

    def long_job():
        start = time.perf_counter()
        try:
            _predict(long_client, "media", media=long_clip)
        except Exception as error:  # noqa: BLE001
            result["error"] = error
        result["seconds"] = time.perf_counter() - start
        done.set()

    thread = threading.Thread(target=long_job)
    thread.start()
    time.sleep(1.0)  # the upload is done and the job has started
    latencies = []
    while not done.is_set() and len(latencies) < n_cached:  # again and again, as long as the long job runs
        start = time.perf_counter()
        _predict(client, "per-TR text", text=SHARED_TEXT)
        if done.is_set():
            break
        latencies.append(time.perf_counter() - start)  # answered while the long job still ran
    overlapped = bool(latencies)
    thread.join()
    if "error" in result:
        raise RuntimeError(f"the long job failed: {result['error']}")
    return latencies, result["seconds"], overlapped


def has_attribution() -> bool:
    from nforge_app.engine import Engine

    return hasattr(Engine, "attribute")


def run_load(users: int, requests: int, work: Path, long_clip_s: float = 600.0, n_cached: int = 500) -> dict:
    """Run the load against a fresh server whose cache is under ``work``; return the figures.

    Returns
    -------
    dict
        ``failures`` (list of str), ``latency`` ({kind: [seconds]}), ``peak_rss_mb``, ``cached_during_long``
        ([seconds]), ``long_job_s``, ``overlapped`` (the cached requests ran while the long job did),
        ``wall_s``, ``attribution`` (whether it was in the mix).
    """
    media = media_helpers()
    work.mkdir(parents=True, exist_ok=True)
    clips = [media.make_video(work / f"user{user}.mp4", 4.0 + 0.5 * user, audio="tone") for user in range(users)]
    long_clip = media.make_video(work / "long.mp4", long_clip_s, audio="tone")
    server = Server(work / "cache")
    try:
        from gradio_client import Client

        _predict(Client(server.url, verbose=False), "per-TR text", text=SHARED_TEXT)  # the shared answer, cached
        timings, failures, lock = defaultdict(list), [], threading.Lock()
        start = time.perf_counter()
        threads = [threading.Thread(target=_user, args=(server.url, user, requests, clips[user], timings, failures,
                                                        lock)) for user in range(users)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall_s = time.perf_counter() - start
        cached, long_s, overlapped = _cached_while_long_job(server.url, long_clip, n_cached)
        return {"failures": failures, "latency": dict(timings), "peak_rss_mb": server.peak_rss_mb(),
                "cached_during_long": cached, "long_job_s": long_s, "overlapped": overlapped, "wall_s": wall_s,
                "attribution": has_attribution()}
    finally:
        server.close()


def rows_of(result: dict, users: int, requests: int) -> list[tuple[str, float, str, str]]:
    rows = [(f"failures ({users} users x {requests} requests)", float(len(result["failures"])), "count", "0")]
    for kind in sorted(result["latency"]):
        values = result["latency"][kind]
        rows.append((f"{kind}: p50 ({len(values)} requests)", statistics.median(values), "s", ""))
        rows.append((f"{kind}: p95", _percentile(values, 0.95), "s", ""))
    cached = result["cached_during_long"]
    rows += [(f"cached request while a {result['long_job_s']:.0f}-s job runs: p50 ({len(cached)} requests)",
              statistics.median(cached), "s", ""),
             ("cached request while a long job runs: p95", _percentile(cached, 0.95), "s", "< 1 s"),
             ("server peak RSS", result["peak_rss_mb"], "MB", ""),
             ("load phase wall time", result["wall_s"], "s", "")]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--long-clip-s", type=float, default=600.0, help="the long job's clip (600 s: the "
                        "default duration limit)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nforge-load-") as work:
        result = run_load(args.users, args.requests, Path(work), args.long_clip_s)
    rows = rows_of(result, args.users, args.requests)
    notes = {"failures": result["failures"][:20], "overlapped": result["overlapped"],
             "attribution": "in the mix" if result["attribution"] else "absent (Engine.attribute not on this branch)",
             "cpus": os.cpu_count()}
    report("load", rows, notes)
    print(f"attribution: {notes['attribution']}; cached requests overlapped the long job: {result['overlapped']}")
    for failure in result["failures"][:20]:
        print("FAILED:", failure)
    if result["failures"] or not result["overlapped"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
