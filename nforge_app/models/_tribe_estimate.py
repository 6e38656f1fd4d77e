"""How long TRIBE v2 takes on this machine, said before it runs ("about N minutes on this machine").

The cost of each stage per minute of stimulus is counted in floating-point operations from the released
architectures (:data:`TFLOP_PER_MINUTE`), and this machine's speed is measured by a short calibration
(a 0.2-s matrix product in the dtype the feature models will use). :data:`EFFICIENCY` is the share of that
speed real model passes reach per stage, measured by ``bench/bench_tribe_cpu.py --end-to-end`` on
random-weight models of the real sizes (2 cores with AVX512-BF16, bf16 features: text 0.85-1.0 of the
calibration speed, audio 0.6, its attention running slower than its matrix products; video, not measured,
is taken at 0.45, what w2v-BERT reached with PyTorch's fused attention kernel, which V-JEPA2 uses; see the
README).

Per minute of stimulus (about 150 spoken words, 200 Llama tokens; 3,000 w2v-BERT frames; 120 V-JEPA2
clips of 64 frames at 2 Hz; 120 encoder steps):

- text: Llama-3.2-3B, 2 x 3.2e9 x 200 tokens = 1.3 TFLOP in one causal pass (``text_mode="fast"``);
  the per-word reference path costs about a context's length more (see the bench);
- audio: w2v-BERT 2.0 (0.6e9 parameters), 2 x 0.6e9 x 3,000 frames = 3.6 TFLOP;
- video: V-JEPA2 giant, about 16 TFLOP per 64-frame clip: 1,900 TFLOP (tens of minutes to hours per
  minute on a CPU);
- encoder: under 0.1 TFLOP.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

TFLOP_PER_MINUTE = {"text": 1.3, "audio": 3.6, "video": 1900.0, "encoder": 0.1}
EFFICIENCY = {"text": 0.9, "audio": 0.6, "video": 0.45, "encoder": 0.5}  # real passes / calibration speed
LOAD_S = {"text": 20.0, "audio": 5.0, "video": 15.0, "encoder": 2.0}  # loading the weights, once


@functools.cache
def machine_tflops(dtype: str = "float32", seconds: float = 0.2) -> float:
    """This machine's matrix-product speed in TFLOP/s (a short calibration, measured once per process)."""
    import torch

    torch_dtype = getattr(torch, dtype)
    n = 1024
    a, b = torch.randn(n, n, dtype=torch_dtype), torch.randn(n, n, dtype=torch_dtype)
    torch.mm(a, b)  # warm-up
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        torch.mm(a, b)
        count += 1
    return 2 * n ** 3 * count / elapsed / 1e12


@dataclass(frozen=True)
class Estimate:
    """Seconds per stage for one stimulus on this machine, and the sentence that says it."""

    seconds: dict
    duration_s: float
    device: str

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def sentence(self) -> str:
        parts = ", ".join(f"{stage} {_minutes(s)}" for stage, s in self.seconds.items())
        return (f"TRIBE v2 on this machine ({self.device}): about {_minutes(self.total_s)} for {self.duration_s:.0f} s "
                f"of stimulus ({parts}; weights loading included).")


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{math.ceil(minutes)} minutes"
    return f"{minutes / 60:.1f} hours"


def estimate(duration_s: float, modalities, device: str = "cpu", dtype: str = "float32") -> Estimate:
    """Seconds per stage for ``duration_s`` of stimulus with ``modalities`` (the encoder always runs).

    On a GPU the figures are those of ``bench_tribe_gpu.py`` (about 17 s per minute of video on an H100).
    """
    minutes = duration_s / 60.0
    stages = [m for m in ("text", "audio", "video") if m in set(modalities)] + ["encoder"]
    if str(device).startswith("cuda"):
        per_minute = {"text": 2.0, "audio": 1.0, "video": 14.0, "encoder": 0.2}
        return Estimate({s: per_minute[s] * minutes + LOAD_S[s] for s in stages}, duration_s, device)
    speed = machine_tflops(dtype)
    seconds = {s: TFLOP_PER_MINUTE[s] * minutes / (speed * EFFICIENCY[s]) + LOAD_S[s] for s in stages}
    return Estimate(seconds, duration_s, device)


def estimate_for_file(path, modalities=None, device: str = "cpu", settings=None) -> Estimate:
    """:func:`estimate` for a stimulus file, read without decoding it (ffmpeg's header; text is spoken).

    ``modalities`` limits the run (e.g. ``("audio", "text")`` for a video on a CPU); by default those the
    file carries: video files their picture and sound, text when a transcript is beside them or WhisperX is
    installed; text files their words and the synthesised speech.
    """
    from pathlib import Path

    from nforge_app.features._hf import resolve_dtype
    from nforge_app.stimuli import SUPPORTED_EXTENSIONS, load_stimulus, probe
    from nforge_app.stimuli._load import _sidecar_transcript
    from nforge_app.stimuli._transcribe import transcriber_id

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_EXTENSIONS["video"] + SUPPORTED_EXTENSIONS["audio"]:
        info = probe(path)
        duration_s = info.duration_s or 0.0
        carried = {"audio"} if info.has_audio else set()
        carried |= {"video"} if info.has_video else set()
        if _sidecar_transcript(path) is not None or (info.has_audio and transcriber_id() is not None):
            carried.add("text")
    else:
        stimulus = load_stimulus(path, settings)
        duration_s, carried = stimulus.duration_s, set(stimulus.modalities)
    if modalities:
        carried &= set(modalities)
    return estimate(duration_s, carried, device, resolve_dtype(None, "cpu", native_bf16_cpu=True))
