"""The GPU pipeline benchmark's script runs end to end (with tiny models on the CPU), so it cannot rot; it writes
only into a temporary folder."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC_CONFIG = REPO / "tests" / "data" / "tribev2_config.yaml"


@pytest.mark.slow
def test_gpu_pipeline_benchmark_runs_with_tiny_models(tmp_path):
    in_repo = REPO / "bench" / "results" / "tribe_gpu_tiny.json"
    before = in_repo.stat().st_mtime_ns if in_repo.exists() else None
    done = subprocess.run([sys.executable, "bench/bench_tribe_gpu.py", "--tiny", "--seconds", "4", "--config",
                           str(SPEC_CONFIG), "--work", str(tmp_path), "--results", str(tmp_path / "results")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "results" / "tribe_gpu_tiny.json").read_text())
    assert result["prediction_shape"] == [4, 20484] and result["finite"]
    assert (in_repo.stat().st_mtime_ns if in_repo.exists() else None) == before  # nothing written in the repo
    rows = {row["metric"]: row["value"] for row in result["rows"]}
    assert rows["clip 1 again (prediction cache): seconds per minute of video"] < rows[
        "new clip, models loaded: seconds per minute of video"]
