"""Golden predictions of the four models: tiny seeded models and inputs, and their outputs kept in tests/data.

``tests/data/golden_predictions.npz`` was written by ``python tests/_golden.py`` with the code as it was
before the models were split into a trunk (``transform``) and a readout, so the tests can show that
predictions through the new path are bit-identical to the old ones. The lite cases were written again,
on purpose, when the lite model began to start from rest (issue 15); the other cases did not change. Each case stores the SHA-256 of the whole
output (and of the spread), a few of its columns, and the fingerprint of the machine that made it: the
hashes are compared where the fingerprint matches (same CPU, same library versions), the columns everywhere
(to float32 rounding: other CPUs' kernels round differently).

Rewrite the file only on purpose (a change of the numbers that a commit message names), with one torch
thread as the tests use.
"""

from __future__ import annotations

import hashlib
import platform
import sys
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_predictions.npz"
CASES = ("lite-all", "lite-audio", "lite-selection", "tribe-all", "tribe-audio", "tribe-selection",
         "text2fmri-all", "text2fmri-selection", "flow-all", "flow-audio")
_KEPT_COLUMNS = 64


def fingerprint() -> str:
    """What decides the exact rounding of the outputs: CPU, its vector extensions, library versions."""
    import scipy
    import torch

    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        cpu = next((line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return (f"{cpu}; {torch.backends.cpu.get_cpu_capability()}; torch {torch.__version__}; numpy {np.__version__}; "
            f"scipy {scipy.__version__}")


def _features(duration_s: float, seed: int, shapes: dict, ids: dict | None = None, uniform: bool = False,
              rate_hz: float = 2.0):
    from nforge_app.features import FeatureSet, n_steps

    rng = np.random.default_rng(seed)
    n = n_steps(duration_s, rate_hz)
    draw = rng.random if uniform else rng.standard_normal
    arrays = {m: draw((*shape, n)).astype(np.float32) for m, shape in shapes.items()}
    return FeatureSet(arrays, rate_hz=rate_hz, n_steps=n, duration_s=duration_s, extractor_ids=ids or {})


def _stimulus(duration_s: float):
    from nforge_app.stimuli import Stimulus

    return Stimulus(kind="video", source="<golden>", content_hash="0" * 64, duration_s=duration_s)


def build_cases(folder: Path) -> dict[str, tuple]:
    """``{case: (model, features, stimulus, subject, indices)}``, models and release folders made in ``folder``."""
    from nforge_app.config import Settings
    from nforge_app.models.flow import FlowMatchingModel
    from nforge_app.models.lite import LiteModel
    from nforge_app.models.text2fmri import Text2fMRIModel
    from nforge_app.models.tribe import TribeModel

    from _releases import write_flow_release, write_tribe_release
    from _tiny_models import save_tiny_text2fmri

    settings = Settings(cache_dir=folder / "cache")
    lite = LiteModel(settings)
    lite_features = _features(30.4, 0, {"text": (1, 385), "audio": (1, 8), "video": (1, 4)}, uniform=True)
    tribe = TribeModel(settings, variant=str(write_tribe_release(folder / "tribe", seed=3)), device="cpu", fast=False,
                       batch_windows=2)
    tribe_shapes = {"text": (2, 24), "audio": (2, 16), "video": (2, 20)}
    text2fmri = Text2fMRIModel(settings, variant=str(save_tiny_text2fmri(folder / "text2fmri", folder / "lm")),
                               device="cpu")
    text_features = _features(14.9, 2, {"text": (1, 32)}, rate_hz=1 / 1.49)  # one step per TR
    write_flow_release(folder / "flow", {"audio": 8, "video": 4}, extractors=("lite-audio", "lite-video"))
    flow = FlowMatchingModel(settings, variant=str(folder / "flow"), device="cpu", n_samples=3, n_steps=4, seed=7)
    flow_features = _features(10.0, 3, {"audio": (1, 8), "video": (1, 4)},
                              ids={"audio": "lite-audio", "video": "lite-video"})
    return {
        "lite-all": (lite, lite_features, _stimulus(30.4), "average", None),
        "lite-audio": (lite, lite_features.subset(["audio"]), _stimulus(30.4), None, None),
        "lite-selection": (lite, lite_features, _stimulus(30.4), "average", np.array([0, 5, 1000, 10242, 20483])),
        "tribe-all": (tribe, _features(250.0, 4, tribe_shapes), _stimulus(250.0), "average", None),
        "tribe-audio": (tribe, _features(30.5, 5, {"audio": (2, 16)}), _stimulus(30.5), None, None),
        "tribe-selection": (tribe, _features(30.5, 6, tribe_shapes), _stimulus(30.5), "average",
                            np.array([5, 39, 0, 12])),
        "text2fmri-all": (text2fmri, text_features, _stimulus(14.9), 2, None),
        "text2fmri-selection": (text2fmri, text_features, _stimulus(14.9), "sub-05", np.array([3, 999, 0, 500])),
        "flow-all": (flow, flow_features, _stimulus(10.0), "sub-02", None),
        "flow-audio": (flow, flow_features.subset(["audio"]), _stimulus(10.0), 3, np.array([0, 5, 999])),
    }


def sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(array)
    return hashlib.sha256(f"{array.dtype}{array.shape}".encode() + array.tobytes()).hexdigest()


def kept_columns(n_columns: int) -> np.ndarray:
    """The columns whose values the golden file keeps (spread over the outputs)."""
    return np.unique(np.linspace(0, n_columns - 1, min(n_columns, _KEPT_COLUMNS)).round().astype(np.int64))


def record(prediction) -> dict[str, np.ndarray]:
    """What the golden file keeps of one prediction."""
    columns = kept_columns(prediction.data.shape[1])
    entry = {"data_sha256": np.array(sha256(prediction.data)), "data": prediction.data[:, columns],
             "columns": columns, "indices": prediction.indices, "times_s": prediction.times_s}
    if prediction.spread is not None:
        entry.update(spread_sha256=np.array(sha256(prediction.spread)), spread=prediction.spread[:, columns])
    return entry


def main(folder: Path) -> None:
    import torch

    from nforge_app._files import atomic_path

    torch.set_num_threads(1)
    arrays = {"fingerprint": np.array(fingerprint())}
    for name, (model, features, stimulus, subject, indices) in build_cases(folder).items():
        arrays.update({f"{name}__{key}": value
                       for key, value in record(model.predict(features, stimulus, subject, indices)).items()})
    with atomic_path(GOLDEN) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size / 1e3:.0f} kB) on {arrays['fingerprint']}")


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with tempfile.TemporaryDirectory() as tmp:
        main(Path(tmp))
