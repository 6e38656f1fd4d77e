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
    (["info", "missing.npz"], "no such file"),
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
