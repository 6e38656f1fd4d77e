"""Batch on one machine: the same outputs as `nforge predict`, failures recorded, reruns skip, a killed run resumes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import BAD, GOOD, assert_same_npz, outputs, remuxed

from nforge_app.batch import OutputFolder, run
from nforge_app.cli import main
from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.stimuli import stimulus_key
from nforge_app.values import Prediction

# Media, a reference per stimulus and a batch run: tens of seconds on 2 cores.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def first_run(stimuli, reference, tmp_path_factory):
    out = tmp_path_factory.mktemp("local-out")
    return out, run(stimuli, out, progress=False)


def test_a_batch_writes_what_predict_writes_and_records_the_bad_file(first_run, reference):
    out, report = first_run
    rows = {row.id: row for row in report.rows}
    assert list(rows) == ["clip_a.mp4", "clip_b.mp4", "clip_c.mkv", BAD, "sub/clip_d.mp4", "tone.mp3", "voice.wav"]
    assert report.counts == {"ok": 6, "failed": 1, "skipped": 0, "total": 7}
    assert rows[BAD].status == "failed" and "broken.mp4" in rows[BAD].error and rows[BAD].output == ""
    assert len(outputs(out)) == 6
    for name in GOOD:
        assert rows[name].status == "ok" and rows[name].stimulus_s == pytest.approx(6.0, abs=0.1)
        assert_same_npz(out / rows[name].output, reference[name])

    with open(out / "batch_report.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["id"] for row in table] == [row.id for row in report.rows]
    assert {row["status"] for row in table} == {"ok", "failed"}
    summary = json.loads((out / "batch_summary.json").read_text())
    assert summary["counts"] == report.counts and summary["settings"]["model"] == "nforge-lite"
    assert summary["throughput"]["stimulus_seconds"] == pytest.approx(36.0, abs=0.5)
    assert summary["versions"]["nforge"] and summary["seconds"] > 0


def test_outputs_are_named_by_content_hash_and_prediction_key(first_run, stimuli):
    from nforge_app._files import text_sha256

    out, report = first_run
    row = next(row for row in report.rows if row.id == "clip_a.mp4")
    stimulus_hash = stimulus_key(stimuli / "clip_a.mp4")  # with its transcript beside it
    key = Engine().prediction_key(stimulus_hash, "nforge-lite")
    assert row.output == f"{stimulus_hash[:16]}-{text_sha256(key)[:16]}.npz"


def test_a_second_run_skips_everything_done(first_run, stimuli):
    out, _ = first_run
    before = {path.name: path.stat().st_mtime_ns for path in outputs(out)}
    report = run(stimuli, out, progress=False)
    assert report.counts == {"ok": 0, "failed": 1, "skipped": 6, "total": 7}  # the bad file is tried again
    assert {path.name: path.stat().st_mtime_ns for path in outputs(out)} == before


def test_another_selection_is_another_output(first_run, good_stimuli, tmp_path):
    _, first = first_run
    report = run(good_stimuli, tmp_path, roi=["V1"], progress=False)
    assert report.counts["ok"] == 6 and len(outputs(tmp_path)) == 6
    assert not {row.output for row in report.rows} & {row.output for row in first.rows}


def test_info_describes_a_batch_folder(first_run, capsys):
    out, _ = first_run
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "nforge-lite" in text and "engine local" in text
    assert "failed:     sub/broken.mp4:" in text and "batch_report.csv" in text


def test_a_killed_run_resumes_and_ends_with_every_output(stimuli, reference, tmp_path):
    stimuli = remuxed(stimuli, tmp_path / "stimuli", "killed locally")  # none of it cached: each one takes time
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nforge_app", "batch", str(stimuli), "--out", str(out), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.monotonic() + 240
    try:
        while len(outputs(out)) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    done_before = len(outputs(out))
    assert 2 <= done_before < 6, done_before
    assert not (out / "batch_report.csv").exists()  # it died before its report

    report = run(stimuli, out, progress=False)
    assert report.counts == {"ok": 6 - done_before, "failed": 1, "skipped": done_before, "total": 7}
    assert len(outputs(out)) == 6
    for row in report.rows:
        if row.id != BAD:
            assert_same_npz(out / row.output, reference[row.id])


def test_a_manifest_with_transcripts_and_subjects_into_an_fsspec_url(stimuli, reference, tmp_path):
    fsspec = pytest.importorskip("fsspec")
    transcript = tmp_path / "words.srt"
    transcript.write_text((stimuli / "clip_a.srt").read_text())
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("id\tpath\ttranscript\tsubject\textra\n"
                        f"a\t{stimuli / 'clip_a.mp4'}\twords.srt\taverage\tignored\n"
                        f"b\t{stimuli / 'clip_b.mp4'}\t\t\t\n")
    report = run(manifest, "memory://nforge-batch-test/out", progress=False)
    assert report.counts["ok"] == 2
    memory = fsspec.filesystem("memory")
    names = {path.rsplit("/", 1)[-1] for path in memory.ls("/nforge-batch-test/out", detail=False)}
    assert names == {row.output for row in report.rows} | {"batch_report.csv", "batch_summary.json"}
    for row, name in zip(report.rows, ("clip_a.mp4", "clip_b.mp4")):
        local = tmp_path / row.output
        local.write_bytes(memory.cat_file(f"/nforge-batch-test/out/{row.output}"))
        with np.load(local) as got, np.load(reference[name]) as want:
            np.testing.assert_array_equal(got["data"], want["data"])  # a's transcript: the same words
    report_text = OutputFolder("memory://nforge-batch-test/out").read_text("batch_report.csv")
    assert report_text.splitlines()[1].startswith("a,")
    assert run(manifest, "memory://nforge-batch-test/out", progress=False).counts["skipped"] == 2


def test_predict_many_overlaps_in_order_and_returns_or_raises_failures(stimuli, tmp_path):
    engine = Engine(Settings.from_env(cache_dir=tmp_path))  # nothing cached
    paths = [stimuli / "tone.mp3", stimuli / BAD, stimuli / "clip_b.mp4"]
    results = list(engine.predict_many(paths, roi=["A1"], return_exceptions=True))
    assert isinstance(results[0], Prediction) and isinstance(results[2], Prediction)
    assert isinstance(results[1], UserInputError) and "broken.mp4" in str(results[1])
    assert results[0].metadata["stimulus"]["source"] == "tone.mp3"
    np.testing.assert_array_equal(results[2].data, engine.predict(paths[2], roi=["A1"]).data)
    key = engine.prediction_key(stimulus_key(paths[2]), roi=["A1"])  # the key the engine caches it under
    assert (engine.cache_dir / "predictions" / f"{key}.npz").is_file()
    with pytest.raises(UserInputError, match="broken.mp4"):
        list(engine.predict_many(paths, roi=["A1"]))
    with pytest.raises(UserInputError, match="subject"):
        engine.predict_many(paths, subject="sub-99").__next__()


def test_the_command_reports_counts_and_failures_and_exits_1_when_one_failed(stimuli, tmp_path, capsys):
    assert main(["batch", str(stimuli), "--out", str(tmp_path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "7 stimuli: 6 ok, 1 failed, 0 skipped" in out
    assert f"failed: {BAD}: broken.mp4 could not be read" in out and f"nforge info {tmp_path}" in out
