"""TRIBE v2 encoder on the CPU: seconds per 100-s window (200 steps at 2 Hz), batch 1, 2 threads.

Random weights of the released size (177,205,397 parameters, built from the default architecture, nothing
downloaded). Rows: the reference algorithm written plainly in float32 (``oracle`` of tests/_reference.py,
which the tests check the encoder against: separate q/k/v, explicit softmax attention, head and predictor
on all 200 steps, pooling last), our float32 path, our bfloat16 path, the fast path (int8 transformer products on
CPUs with AVX512-VNNI, else bfloat16), the fast path for a 500-vertex selection, and the fast path with 8
windows per call (per window). The reference code measured 0.43 s per window on 2 vCPUs (fp32); the
target of the fast path is 0.15 s with correlation >= 0.9995 to float32. Other processes on the machine
inflate the numbers: each row is the minimum (and median) over interleaved repeats. Run:
``.venv/bin/python bench/bench_tribe.py [repeats]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from unittest import mock

import torch

from _common import TESTS, report

REFERENCE_S = 0.43
TARGET_S = 0.15
N_STEPS = 200
ROI_SIZE = 500
BATCH = 8
ORACLE = "reference algorithm, fp32"


def _features(spec, batch: int, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, n_layers, dim, N_STEPS, generator=generator)
            for m, (n_layers, dim) in spec.feature_dims.items()}


def main(repeats: int = 7) -> None:
    torch.set_num_threads(2)
    sys.path.insert(0, str(TESTS))
    from nforge_app.models._tribe_net import INT8_ENV, EncoderSpec, TribeEncoder, bf16_supported

    from _reference import correlation, oracle

    torch.manual_seed(0)
    encoder = TribeEncoder(EncoderSpec()).eval()
    one, many = _features(encoder.spec, 1), _features(encoder.spec, BATCH)
    roi = torch.randperm(encoder.spec.n_outputs, generator=torch.Generator().manual_seed(1))[:ROI_SIZE]

    def bf16():
        with mock.patch.dict(os.environ, {INT8_ENV: "0"}):
            return encoder(one, fast=True)

    fast = f"ours, fast ({encoder.precision(True)})"
    runs = {
        ORACLE: (lambda: oracle(encoder, one, dtype=torch.float32), 1),
        "ours, fp32": (lambda: encoder(one, fast=False), 1),
        "ours, bf16": (bf16, 1),
        fast: (lambda: encoder(one, fast=True), 1),
        f"ours, fast, {ROI_SIZE} vertices": (lambda: encoder(one, indices=roi, fast=True), 1),
        f"ours, fast, batch {BATCH} (per window)": (lambda: encoder(many, fast=True), BATCH),
    }
    with torch.inference_mode():
        exact = encoder(one, fast=False)
        agreement = {"fp32 diff": float((exact - oracle(encoder, one, dtype=torch.float32)).abs().max()),
                     "bf16 correlation": correlation(bf16(), exact),
                     "fast correlation": correlation(encoder(one, fast=True), exact)}
        times = {name: [] for name in runs}
        for _ in range(repeats):  # interleaved, so a burst of load elsewhere hits every row alike
            for name, (run, per) in runs.items():
                started = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - started) / per)
    rows, oracle_best = [], min(times[ORACLE])
    for name, values in times.items():
        best = min(values)
        target = f"<= {TARGET_S}" if name == fast else ""
        rows.append((f"{name}: min", best, "s", target))
        rows.append((f"{name}: median", statistics.median(values), "s", ""))
        rows.append((f"{name}: reference 0.43 s / min", REFERENCE_S / best, "x", ""))
        if name != ORACLE:  # the same algorithm timed in this run, on this machine's speed of the moment
            rows.append((f"{name}: reference algorithm (this run) / min", oracle_best / best, "x", ""))
    scale = float(exact.abs().max())
    rows += [("ours fp32 vs reference, max abs diff / max |output|", agreement["fp32 diff"] / scale * 1e6, "1e-6",
              "<= 100"),
             ("bf16 vs fp32, 1 - correlation", (1 - agreement["bf16 correlation"]) * 1e6, "1e-6", "<= 500"),
             ("fast vs fp32, 1 - correlation", (1 - agreement["fast correlation"]) * 1e6, "1e-6", "<= 500")]
    report("tribe", rows, extra={
        "threads": torch.get_num_threads(), "torch": torch.__version__, "bf16_native": bf16_supported("cpu"),
        "fast_precision": encoder.precision(True),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "repeats": repeats,
        "times_s": times, "output_scale": scale, "agreement": agreement,
    })


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
