import os
import subprocess
import sys

import numpy as np
import pytest

from nforge_app.cli import main

from _media import make_video


def run_cli(*args, cwd=None):
    """Run the real `nforge` entry point in a fresh process (as a user would)."""
    return subprocess.run([sys.executable, "-m", "nforge_app", *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ), timeout=300)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("cli") / "talk.mp4", 5.0, text="hello there how are you today")


def test_predict_then_info(clip, tmp_path):
    out = tmp_path / "pred.npz"
    result = run_cli("predict", str(clip), "--model", "nforge-lite", "--roi", "V*", "A1", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "baseline, not trained on fMRI" in result.stderr + result.stdout
    assert f"saved: {out}" in result.stdout
    with np.load(out, allow_pickle=False) as npz:
        assert npz["data"].shape[0] == 5 and str(npz["model_id"]) == "nforge-lite"
        n_selected = npz["indices"].size
    info = run_cli("info", str(out))
    assert info.returncode == 0
    assert f"{n_selected} of its outputs selected" in info.stdout and "BOLD time" in info.stdout


def test_models_lists_every_model_and_whether_its_weights_are_here(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NFORGE_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / "text2fmri").mkdir()
    (tmp_path / "text2fmri" / "config.json").write_text("{}")
    (tmp_path / "text2fmri" / "model.pt").write_bytes(b"x")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "nforge-lite" in out and "baseline, not trained on fMRI" in out and "fsaverage5" in out
    assert "embedded, no download" in out
    assert "fetched from the hub (facebook/tribev2) on first use" in out
    assert f"present in {tmp_path / 'text2fmri'}" in out
    assert "missing: put stage1_best.pt, stage2*.pt in" in out
    assert "fmri-cneuromod_algo2025-text2fmri" in out and "CC-BY-NC-4.0" in out


@pytest.mark.parametrize(("args", "match"), [
    (["predict", "missing.mp4"], "missing.mp4"),
    (["predict", "{clip}", "--roi", "NotARegion"], "NotARegion"),
    (["predict", "{clip}", "--model", "nope"], "unknown model"),
    (["predict", "{clip}", "--device", "tpu"], "unknown device 'tpu'; accepted: auto, cpu, cuda"),
    (["info", "missing.npz"], "no such file"),
    (["info", "{clip}"], "is not an NForge prediction (not an .npz file at all)"),
])
def test_user_errors_exit_2_with_one_line(clip, tmp_path, args, match, capsys):
    args = [a.replace("{clip}", str(clip)) for a in args]
    code = main([*args, *(["--quiet", "--out", str(tmp_path / "x.npz")] if args[0] == "predict" else [])])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert match in err and err.startswith("nforge: error:") and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "x.npz").exists()


def test_bad_file_through_the_real_command(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    result = run_cli("predict", str(empty), "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "empty" in result.stderr.lower()
    assert list(tmp_path.iterdir()) == [empty]


def test_example_then_predict(tmp_path):
    result = run_cli("example", str(tmp_path))
    assert result.returncode == 0, result.stderr
    clip = tmp_path / "nforge_example_clip.mp4"
    assert clip.stat().st_size > 10_000 and (tmp_path / "nforge_example_clip.srt").read_text().count("-->") == 2
    assert main(["predict", str(clip), "--quiet", "--out", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "p.npz", allow_pickle=False) as npz:
        assert npz["data"].shape == (20, 20484)
        assert "transcript" in str(npz["metadata_json"])
    # the same clip, byte for byte, from every fresh process (so `make demo` prints the same numbers)
    assert run_cli("example", str(tmp_path / "again")).returncode == 0
    assert (tmp_path / "again" / clip.name).read_bytes() == clip.read_bytes()


def test_predict_out_writes_the_format_its_suffix_names(clip, tmp_path):
    from PIL import Image

    gif = tmp_path / "talk.gif"
    result = run_cli("predict", str(clip), "--out", str(gif), "--quiet")
    assert result.returncode == 0, result.stderr
    with Image.open(gif) as image:  # a GIF, not an npz under a .gif name
        assert image.format == "GIF" and image.n_frames == 5
    assert f"saved: {gif}" in result.stdout
    assert main(["predict", str(clip), "--out", str(tmp_path / "talk.func.gii"), "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.glob("talk_hemi-*")) == ["talk_hemi-L.func.gii", "talk_hemi-R.func.gii"]
    assert main(["predict", str(clip), "--out", str(tmp_path / "talk.mp4"), "--quiet"]) == 0
    assert (tmp_path / "talk.mp4").read_bytes()[4:8] == b"ftyp"


def test_predict_out_with_another_suffix_is_refused_before_predicting(clip, tmp_path, capsys):
    for out in ("talk.png", "talk", "talk.npy"):
        assert main(["predict", str(clip), "--out", str(tmp_path / out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "unknown --out suffix" in err and "accepted: .npz, .gif, .mp4, .csv, .json, .gii" in err
    assert not list(tmp_path.iterdir())
    before = clip.read_bytes()
    assert main(["predict", str(clip), "--out", str(clip), "--quiet"]) == 2
    assert "is the stimulus itself" in capsys.readouterr().err and clip.read_bytes() == before


def test_export_a_saved_prediction(clip, tmp_path, capsys):
    npz = tmp_path / "talk.nforge-lite.npz"
    assert main(["predict", str(clip), "--out", str(npz), "--roi", "V1", "A1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["export", str(npz), "--format", "gif", "json", "csv", "--picture", "glass", "--view", "l", "z",
                 "--size", "160"]) == 0
    out = capsys.readouterr().out
    assert [line.split("/")[-1] for line in out.splitlines()] == [
        "talk.nforge-lite.gif", "talk.nforge-lite.json", "talk.nforge-lite.csv"]
    folder = tmp_path / "exports"
    assert main(["export", str(npz), "--format", "mp4", "--size", "160", "--out", f"{folder}/"]) == 0
    captured = capsys.readouterr()
    assert (folder / "talk.nforge-lite.mp4").exists()
    assert main(["export", str(npz), "--format", "csv", "--out", str(folder / "named.csv")]) == 0
    assert (folder / "named.csv").exists() and not (folder / "named.csv.csv").exists()
    assert "nforge: note: mp4: no --audio given (the stimulus file); the video is silent" in captured.err


@pytest.mark.parametrize(("args", "match"), [
    (["--format", "gif", "docx"], "export formats: unknown: 'docx'; accepted: npz, gif, mp4, gifti, csv, json"),
    (["--picture", "flat"], "unknown picture 'flat'; accepted: surface, glass"),
    (["--view", "sideways"], "surface views: unknown: 'sideways'; accepted: lateral_left"),
    (["--colors", "rainbow"], "unknown colour scale 'rainbow'; accepted: symmetric, one-sided"),
    (["--format", "gifti"], "GIfTI export holds values per surface vertex"),
])
def test_export_user_errors_exit_2_with_one_line(tmp_path, args, match, capsys):
    from nforge_app.export import save_npz
    from nforge_app.models import Prediction

    npz = tmp_path / "p.npz"
    save_npz(Prediction(data=np.zeros((2, 1000), np.float32), times_s=np.arange(2.0), tr_s=1.49,
                        space_id="schaefer1000", indices=np.arange(1000), model_id="text2fmri", subject="1",
                        hrf_offset_s=0.0, time_axis="bold"), npz)
    assert main(["export", str(npz), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and err.startswith("nforge: error:") and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]


def test_progress_without_a_terminal_is_one_line_per_stage(tmp_path):
    fresh = make_video(tmp_path / "fresh.mp4", 3.0, audio="tone")  # not in the cache: every stage runs
    result = run_cli("predict", str(fresh), "--out", str(tmp_path / "p.npz"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "%" in line]
    assert "\r" not in result.stderr and 3 <= len(lines) <= 30
    assert lines[0].endswith("decoding stimulus") and lines[-1] == "100%  done"
