"""ROI temporal attention of TRIBE v2 on this CPU, in single-forward times (target <= 60), and of the lite model.

TRIBE v2: random weights of the released size (nothing downloaded), one 100-s window (200 steps at 2 Hz) of
random features for the three modalities. The unit is one plain prediction of that window at the exact
float32 path (``TribeModel.predict``, all 20,484 vertices). The measured call is
``nforge_app.analysis.roi_attention`` with all 180 Glasser-sized regions of random vertices (the cost does not
depend on their number: each region's mean output is an affine map of the hidden features) and the default
2-s occlusion chunks: 50 occluded forwards of the window in batches, one plain forward with the attention
weights recorded (rollout), and the regions' readout, so about 51 forwards by construction (1-s chunks would
be 101: over the target, hence the default). Lite: ROI attention of a 60-s stimulus (exact, no forward
passes), in seconds. Other processes on the machine change the times from one moment to the next: the
forwards and the ROI attention are timed interleaved (forward, attention, forward), each ratio divides by
the faster forward next to it, and the table gives the median and the best of ``repeats`` ratios. Run:
``.venv/bin/python bench/bench_attention.py [repeats]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _common import report

N_STEPS = 200
N_ROIS = 180
TARGET_FORWARDS = 60


def main(repeats: int = 2) -> None:
    torch.set_num_threads(2)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nforge_app.analysis import roi_attention
    from nforge_app.config import Settings
    from nforge_app.features import FeatureSet
    from nforge_app.models._tribe_net import EncoderSpec, TribeEncoder
    from nforge_app.models.lite import LiteModel
    from nforge_app.models.tribe import TribeModel
    from nforge_app.stimuli import Stimulus

    cache = Path(tempfile.mkdtemp(prefix="nforge-bench-attention-"))
    torch.manual_seed(0)
    model = TribeModel(Settings(cache_dir=cache), device="cpu", precision="fp32")
    model.encoder_, model.config_ = TribeEncoder(EncoderSpec()).eval(), {}  # the release's window: 100 s at 2 Hz
    model.device_, model.release_path_ = torch.device("cpu"), "<random weights>"
    spec = model.encoder_.spec
    rng = np.random.default_rng(0)
    features = FeatureSet({m: rng.standard_normal((n_layers, dim, N_STEPS)).astype(np.float32)
                           for m, (n_layers, dim) in spec.feature_dims.items()}, rate_hz=2.0, n_steps=N_STEPS,
                          duration_s=100.0)
    stimulus = Stimulus(kind="video", source="<bench>", content_hash="bench", duration_s=100.0)
    rois = {f"region {i}": rng.choice(spec.n_outputs, size=100, replace=False) for i in range(N_ROIS)}

    model.predict(features, stimulus)  # lays out the fp32 plan once

    def timed(run) -> float:
        started = time.perf_counter()
        run()
        return time.perf_counter() - started

    # Interleaved, so that a ratio compares times taken under the same load: forward, attention, forward.
    forwards, ratios, attention_times = [], [], []
    for _ in range(repeats):
        before = min(timed(lambda: model.predict(features, stimulus)) for _ in range(2))
        attention_times.append(timed(lambda: roi_attention(model, features, stimulus, rois)))
        after = min(timed(lambda: model.predict(features, stimulus)) for _ in range(2))
        forwards += [before, after]
        ratios.append(attention_times[-1] / min(before, after))
    forward_s = min(forwards)
    before = timed(lambda: model.predict(features, stimulus))
    one_roi_s = timed(lambda: roi_attention(model, features, stimulus, dict(list(rois.items())[:1])))
    one_roi_ratio = one_roi_s / min(before, timed(lambda: model.predict(features, stimulus)))
    rows = [
        ("tribe-v2: one forward of a 100-s window (fp32, 20,484 outputs)", forward_s, "s", ""),
        (f"tribe-v2: ROI attention, {N_ROIS} regions, 2-s chunks", min(attention_times), "s", ""),
        (f"tribe-v2: ROI attention, {N_ROIS} regions / one forward (median of interleaved)",
         float(np.median(ratios)), "x", f"<= {TARGET_FORWARDS}"),
        (f"tribe-v2: ROI attention, {N_ROIS} regions / one forward (best)", min(ratios), "x", ""),
        ("tribe-v2: ROI attention, 1 region / one forward", one_roi_ratio, "x", f"<= {TARGET_FORWARDS}"),
    ]

    lite = LiteModel(Settings(cache_dir=cache))
    n = 120
    lite_features = FeatureSet({"audio": rng.standard_normal((1, 8, n)).astype(np.float32),
                                "text": rng.standard_normal((1, 9, n)).astype(np.float32),
                                "video": rng.random((1, 4, n)).astype(np.float32)}, rate_hz=2.0, n_steps=n,
                               duration_s=60.0)
    lite_stimulus = Stimulus(kind="video", source="<bench>", content_hash="lite", duration_s=60.0)
    regions = ["A1", "V1", "MT", "45", "STSdp"]
    roi_attention(lite, lite_features, lite_stimulus, regions)  # space and region weights, once
    lite_s = min(timed(lambda: roi_attention(lite, lite_features, lite_stimulus, regions)) for _ in range(3))
    rows.append((f"nforge-lite: ROI attention, 60-s stimulus, {len(regions)} regions (exact)", lite_s, "s", ""))
    report("attention", rows, {"n_rois": N_ROIS, "chunk_s": 2.0, "threads": torch.get_num_threads()})


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
