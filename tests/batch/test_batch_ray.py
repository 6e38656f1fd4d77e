"""Batch on Ray (a local cluster of 2 CPUs): the same outputs as `nforge predict`, failures recorded, reruns
skip, a killed driver's run resumes. Ray is installed by the dev extra, so CI runs these."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import BAD, GOOD, assert_same_npz, outputs, remuxed

from nforge_app.batch import read_items, run
from nforge_app.batch._job import BatchRequest, output_names
from nforge_app.batch._ray import remote_output_names
from nforge_app.stimuli import stimulus_key

# A Ray cluster, its actors' start (each loads the model) and two batches: about a minute on 2 cores.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray cluster of 2 CPUs, with no dashboard and no usage report, whose workers have a cache of
    their own (so they compute what the local tests cached); yields its address."""
    try:
        import ray
    except ImportError:
        pytest.fail("the Ray tests need ray: pip install -e '.[dev]' (or '.[scale]')")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv("NFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("ray-cache")))  # the workers inherit it
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level=logging.WARNING)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_a_ray_batch_writes_what_predict_writes_and_a_rerun_skips(cluster, stimuli, reference, tmp_path):
    report = run(stimuli, tmp_path, engine="ray", workers=2, progress=False)
    assert report.counts == {"ok": 6, "failed": 1, "skipped": 0, "total": 7}
    rows = {row.id: row for row in report.rows}
    assert rows[BAD].status == "failed" and "broken.mp4" in rows[BAD].error
    assert len(outputs(tmp_path)) == 6
    for name in GOOD:
        assert_same_npz(tmp_path / rows[name].output, reference[name])
    assert report.summary["settings"]["engine"] == "ray" and report.summary["settings"]["workers"] == 2
    assert report.summary["versions"]["ray"]

    again = run(stimuli, tmp_path, engine="ray", workers=2, progress=False)
    assert again.counts == {"ok": 0, "failed": 1, "skipped": 6, "total": 7}


def test_output_names_made_on_a_worker_are_those_made_here(cluster, stimuli):
    import ray

    request = BatchRequest(roi=("V1",))
    pairs = [(item, stimulus_key(item.path)) for item in read_items(stimuli) if item.id in GOOD]
    names = output_names(request, pairs, "cpu")
    assert len(set(names)) == 6
    assert remote_output_names(ray, request, pairs, "cpu", cpus_per_worker=1, gpus_per_worker=0) == names


def test_a_killed_ray_run_resumes_and_ends_with_every_output(cluster, stimuli, reference, tmp_path):
    stimuli = remuxed(stimuli, tmp_path / "stimuli", "killed on Ray")  # none of it cached: each one takes time
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nforge_app", "batch", str(stimuli), "--out", str(out), "--engine", "ray",
               "--address", cluster, "--workers", "2", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.monotonic() + 240
    try:
        while len(outputs(out)) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)  # its actors die with it (Ray kills the actors of a dead driver)
    finally:
        process.wait(timeout=30)
    assert 2 <= len(outputs(out)) < 6

    report = run(stimuli, out, engine="ray", workers=2, progress=False)
    assert report.counts["ok"] + report.counts["skipped"] == 6 and report.counts["skipped"] >= 2
    assert report.counts["failed"] == 1
    assert len(outputs(out)) == 6
    for row in report.rows:
        if row.id != BAD:
            assert_same_npz(out / row.output, reference[row.id])
