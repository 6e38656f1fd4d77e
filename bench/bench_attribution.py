"""TRIBE v2 modality attribution on the CPU, as ratios to one single forward, at real sizes with random weights.

One 100-s window (200 feature steps at 2 Hz) of the three modalities through a randomly initialised encoder of
the released sizes (nothing downloaded), 20,484 outputs, float32. Rows: one forward (``encoder(features,
fast="fp32")``, the unit), exact Shapley values over the 3 modalities (8 coalitions batched through
``modality_scale``; target <= 6 forwards; the empty coalition, which does not depend on the stimulus, is
kept per encoder, so a model's first stimulus pays one more row: timed too), ablation, integrated gradients at ``IG_STEPS`` midpoints
(forward-mode, 3 directions per point; no target, and the completeness error is reported), and ROI temporal
attention when ``nforge_app.analysis.roi_attention`` is there (target <= 60 forwards; 180 and 3 regions,
each run timed between two forwards). The machine is shared:
each time is the minimum over interleaved repeats. Run: ``.venv/bin/python bench/bench_attribution.py [repeats]``
(or ``python bench/run.py attribution``).
"""

from __future__ import annotations

import sys
import time

import torch

from _common import report

N_STEPS = 200
IG_STEPS = 8
SHAPLEY_TARGET = 6.0
ATTENTION_TARGET = 60.0


def main(repeats: int = 3) -> None:
    torch.set_num_threads(2)
    from nforge_app.analysis import tribe_window_attribution
    from nforge_app.models._tribe_net import EncoderSpec, TribeEncoder

    torch.manual_seed(0)
    encoder = TribeEncoder(EncoderSpec()).eval()
    generator = torch.Generator().manual_seed(1)
    features = {m: torch.randn(1, n_layers, dim, N_STEPS, generator=generator)
                for m, (n_layers, dim) in encoder.spec.feature_dims.items()}

    def forward():
        with torch.inference_mode():
            return encoder(features, fast="fp32")

    from nforge_app.analysis._attribution import _EMPTY_COALITION

    def cold():
        _EMPTY_COALITION.clear()  # the empty coalition computed too, as for a model's first stimulus
        return tribe_window_attribution(encoder, features, "shapley")

    results = {}
    runs = {
        "one forward (fp32)": forward,
        "Shapley, 3 modalities": lambda: results.__setitem__("shapley", tribe_window_attribution(
            encoder, features, "shapley")),
        "Shapley, 3 modalities, first stimulus": cold,
        "ablation, 3 modalities": lambda: tribe_window_attribution(encoder, features, "ablation"),
    }
    forward()
    tribe_window_attribution(encoder, features, "shapley")  # builds the fp32 plan once
    times = {name: [] for name in runs}
    for _ in range(repeats):  # interleaved, so a burst of load elsewhere hits every row alike
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    started = time.perf_counter()
    ig = tribe_window_attribution(encoder, features, "integrated-gradients", steps=IG_STEPS)
    ig_s = time.perf_counter() - started
    unit = min(times["one forward (fp32)"])
    shapley = results["shapley"]
    rows = [("one forward (fp32), one 100-s window", unit, "s", "")]
    for name in list(runs)[1:]:
        target = f"<= {SHAPLEY_TARGET:g}" if name.startswith("Shapley") else ""
        rows.append((f"{name}: min", min(times[name]), "s", ""))
        rows.append((f"{name} / one forward", min(times[name]) / unit, "x", target))
    rows.append((f"integrated gradients, {IG_STEPS} steps, once", ig_s, "s", ""))
    rows.append((f"integrated gradients, {IG_STEPS} steps / one forward", ig_s / unit, "x", ""))
    rows.append(("Shapley completeness error (relative)", _completeness(shapley) * 1e6, "1e-6", "<= 10"))
    rows.append((f"integrated gradients, {IG_STEPS} steps, completeness error", _completeness(ig) * 100, "%", ""))
    extra = {"threads": torch.get_num_threads(), "torch": torch.__version__, "repeats": repeats,
             "times_s": times, "ig_s": ig_s, "ig_steps": IG_STEPS}
    attention = _attention(encoder, features, forward, repeats)
    if attention is not None:
        rows += attention
    report("attribution", rows, extra=extra)


def _completeness(out) -> float:
    total = out["scores"].astype("float64").sum(0) + out["baseline"] - out["prediction"]
    return float(abs(total).max() / abs(out["prediction"] - out["baseline"]).max())


def _attention(encoder, features, forward, repeats: int):
    """ROI temporal attention on the same window (``nforge_app.analysis.roi_attention``, when it is there),
    through a TribeModel that holds the random encoder: 180 regions of 500 random vertices (the cost does not
    depend on their number: a region's mean output is an affine map of the hidden features) and 3 regions.
    Each run is timed between two forwards and divided by the faster one (a ratio under the same load)."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from nforge_app import analysis
    from nforge_app.config import Settings
    from nforge_app.features import FeatureSet
    from nforge_app.models.tribe import TribeModel
    from nforge_app.stimuli import Stimulus

    if "roi_attention" not in analysis.__all__:
        return None

    def timed(run) -> float:
        started = time.perf_counter()
        run()
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as cache:
        model = TribeModel(Settings(cache_dir=Path(cache)), device="cpu", precision="fp32")
        model.encoder_, model.config_, model.device_ = encoder, {}, "cpu"  # 100-s windows at 2 Hz, as released
        arrays = {m: f[0].numpy() for m, f in features.items()}
        feature_set = FeatureSet(arrays, rate_hz=2.0, n_steps=N_STEPS, duration_s=N_STEPS / 2.0,
                                 extractor_ids={m: f"random-{m}" for m in arrays})
        stimulus = Stimulus(kind="video", source="<random>", content_hash="random", duration_s=N_STEPS / 2.0)
        rng = np.random.default_rng(0)
        many = {f"region {i}": np.sort(rng.choice(encoder.spec.n_outputs, 500, replace=False)) for i in range(180)}
        few = dict(list(many.items())[:3])
        seconds, ratios, results = {}, {}, []

        def run(rois):
            results.append(analysis.roi_attention(model, feature_set, stimulus, rois))

        for name, rois, runs in (("180 regions", many, repeats), ("3 regions", few, 1)):
            times, ratios[name] = [], []
            for _ in range(runs):
                before = timed(forward)
                times.append(timed(lambda rois=rois: run(rois)))
                ratios[name].append(times[-1] / min(before, timed(forward)))
            seconds[name] = min(times)
    attention = results[-1]
    how = f"{attention.metadata.get('method_id')}, {attention.metadata.get('chunk_s')} s chunks"
    rows = []
    for name in seconds:
        rows.append((f"ROI temporal attention, {name} ({how}): min", seconds[name], "s", ""))
        rows.append((f"ROI temporal attention, {name} / one forward (median, interleaved)",
                     float(np.median(ratios[name])), "x", f"<= {ATTENTION_TARGET:g}"))
    return rows


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
