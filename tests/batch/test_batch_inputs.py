"""What a batch reads (folders, manifests) and the bad input it refuses before anything runs."""

from __future__ import annotations

import socket
import time

import pytest

from nforge_app.batch import BatchItem, read_items, run
from nforge_app.cli import main
from nforge_app.errors import UserInputError


@pytest.fixture()
def folder(tmp_path):
    """Stand-in stimulus files (their content is never decoded here)."""
    for name in ("b.mp4", "a.wav", "a.srt", "sub/c.txt", "sub/d.mp4", "sub/d.vtt", "lines.srt", ".hidden.mp4",
                 ".cache/e.mp4", "notes.md", "table.csv"):
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path / "in"


def test_a_folder_gives_its_stimuli_recursively_with_transcripts_beside_media_left_out(folder):
    items = read_items(folder)
    assert [item.id for item in items] == ["a.wav", "b.mp4", "lines.srt", "sub/c.txt", "sub/d.mp4"]
    assert items[1] == BatchItem(id="b.mp4", path=str(folder / "b.mp4"))


def test_manifests_in_csv_tsv_and_jsonl(tmp_path):
    (tmp_path / "csv.csv").write_text("path,id,subject,transcript,condition\nclips/a.mp4,first,2,a.srt,x\n"
                                      "/abs/b.wav,,,,y\n")
    (tmp_path / "tsv.tsv").write_text("path\tsubject\nclips/a.mp4\t\n")
    (tmp_path / "jsonl.jsonl").write_text('{"path": "clips/a.mp4", "subject": 3}\n\n{"path": "b.wav", "id": "b"}\n')
    first, second = read_items(tmp_path / "csv.csv")
    assert first == BatchItem(id="first", path=str(tmp_path / "clips/a.mp4"), transcript=str(tmp_path / "a.srt"),
                              subject="2")
    assert second == BatchItem(id="/abs/b.wav", path="/abs/b.wav")
    assert read_items(tmp_path / "tsv.tsv") == [BatchItem(id="clips/a.mp4", path=str(tmp_path / "clips/a.mp4"))]
    assert [(item.id, item.subject) for item in read_items(tmp_path / "jsonl.jsonl")] == [("clips/a.mp4", "3"),
                                                                                          ("b", None)]


@pytest.mark.parametrize(("name", "text", "strict", "match"), [
    ("m.csv", "file,id\na.mp4,1\n", False, r"m.csv has no 'path' column \(columns found: file, id\); accepted "
                                           r"columns: path \(required\), transcript, id, subject"),
    ("m.csv", "path,id\na.mp4,x\nb.mp4,x\nc.mp4,y\n", False, r"m.csv repeats ids: 'x' \(2 times\)"),
    ("m.tsv", "path\na.mp4\na.mp4\n", False, r"repeats ids: 'a.mp4' \(2 times\)"),
    ("m.csv", "path\n../elsewhere/a.mp4\nin/b.mp4\n", True, r"--strict: 1 path\(s\) lie outside the manifest's "
                                                           r"folder .*row 1: .*elsewhere/a.mp4"),
    ("m.csv", "path,transcript\na.mp4,/etc/a.srt\n", True, "row 1: /etc/a.srt"),
    ("m.csv", "path\n", False, "lists no stimuli"),
    ("m.csv", "path,id\n,x\n", False, "row 1 has an empty path"),
    ("m.jsonl", '{"path": "a.mp4"}\n[1, 2]\n', False, "line 2 is not a JSON object"),
    ("m.jsonl", '{"path": "a.mp4"\n', False, "line 1 is not JSON"),
    ("clip.mp4", "x", False, r"clip.mp4 is neither a folder nor a manifest; accepted: a folder of stimuli, or a "
                             r"manifest \(.csv .tsv .jsonl\)"),
])
def test_bad_manifests_are_refused_with_one_clear_message(tmp_path, name, text, strict, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(UserInputError, match=match):
        read_items(tmp_path / name, strict=strict)


def test_strict_accepts_paths_inside_the_manifest_folder(tmp_path):
    (tmp_path / "m.csv").write_text("path\nin/a.mp4\n./b.mp4\n")
    assert len(read_items(tmp_path / "m.csv", strict=True)) == 2


def test_an_empty_folder_and_a_missing_source(tmp_path):
    with pytest.raises(UserInputError, match="no stimuli in .*; accepted: video .mp4"):
        read_items(tmp_path)
    with pytest.raises(UserInputError, match="no folder or manifest at"):
        read_items(tmp_path / "nowhere")


def _refused(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("nforge: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_an_output_folder_that_is_a_file_is_refused_and_nothing_runs(folder, tmp_path, capsys):
    (tmp_path / "out.npz").write_bytes(b"x")
    err = _refused(["batch", str(folder), "--out", str(tmp_path / "out.npz")], capsys)
    assert "the output folder" in err and "is a file" in err
    assert (tmp_path / "out.npz").read_bytes() == b"x"


@pytest.mark.parametrize(("extra", "match"), [
    (["--model", "nope"], "unknown model"),
    (["--roi", "NotARegion"], "NotARegion"),
    (["--subject", "7"], "subject"),
    (["--workers", "2"], "go with the Ray engine"),
])
def test_bad_settings_are_refused_before_anything_runs(folder, tmp_path, capsys, extra, match):
    out = tmp_path / "out"
    assert match in _refused(["batch", str(folder), "--out", str(out), *extra], capsys)
    assert not out.exists()  # no folder, no report


def test_a_manifest_subject_is_checked_before_anything_runs(tmp_path, capsys):
    (tmp_path / "m.csv").write_text("path,subject\na.mp4,average\nb.mp4,sub-04\n")
    assert "sub-04" in _refused(["batch", str(tmp_path / "m.csv"), "--out", str(tmp_path / "out")], capsys)


def test_an_unreachable_ray_address_fails_fast_and_nothing_runs(folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # what the batch would set here stays out of other tests
    with socket.socket() as probe:  # a local port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    err = _refused(["batch", str(folder), "--out", str(tmp_path / "out"), "--engine", "ray",
                    "--address", f"127.0.0.1:{port}"], capsys)
    assert time.monotonic() - started < 15
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in err and "ray start --head" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserInputError, match="accepted: HOST:PORT"):
        run(folder, tmp_path / "out", engine="ray", address="nonsense", progress=False)


def test_info_on_a_folder_that_holds_no_batch(tmp_path, capsys):
    assert "holds no batch_summary.json: not the output folder of `nforge batch`" in _refused(
        ["info", str(tmp_path)], capsys)
