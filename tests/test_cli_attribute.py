"""`nforge attribute` end to end (the real entry point), `nforge info` and `nforge export` of its npz, bad input
with exit code 2, and `nforge batch --attribute`."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nforge_app.cli import main
from nforge_app.export import load_attribution, load_roi_attention

from _media import make_video


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nforge_app", *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ), timeout=300)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("cli-attr") / "talk.mp4", 8.0, text="hello there how are you today")


def test_attribute_then_info_and_export(clip, tmp_path):
    out = tmp_path / "attr.npz"
    result = run_cli("attribute", str(clip), "--model", "nforge-lite", "--roi", "A1", "V1", "--out", str(out),
                     "--quiet")
    assert result.returncode == 0, result.stderr
    assert f"saved: {out}" in result.stdout and "shapley" in result.stdout
    with np.load(out, allow_pickle=False) as npz:
        assert [str(m) for m in npz["modalities"]] == ["audio", "video"]
        scores, baseline = npz["scores"], npz["baseline"]
        assert scores.shape[:2] == (2, 8) and baseline.shape == scores.shape[1:]
        assert [str(n) for n in npz["roi_names"]] == ["A1", "V1"] and npz["attention"].shape[:2] == (2, 8)
        assert npz["stimulus_times_s"].ndim == 1 and str(npz["method"]) == "shapley"
        assert npz["indices"].size == scores.shape[2]
    prediction = run_cli("predict", str(clip), "--roi", "A1", "V1", "--out", str(tmp_path / "pred.npz"), "--quiet")
    assert prediction.returncode == 0, prediction.stderr
    with np.load(tmp_path / "pred.npz") as npz:
        np.testing.assert_allclose(scores.sum(0) + baseline, npz["data"], atol=1e-6)
    info = run_cli("info", str(out))
    assert info.returncode == 0, info.stderr
    assert "modality attribution" in info.stdout and "exactly" in info.stdout and "A1, V1" in info.stdout
    assert main(["export", str(out), "--format", "png", "csv", "--out", str(tmp_path / "pics"), "--size", "160"]) == 0
    picture = Image.open(tmp_path / "pics.png")
    assert picture.mode == "RGB" and picture.size[0] > 160
    with open(tmp_path / "pics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["region"] for row in rows} == {"A1", "V1"} and len(rows) == 16
    assert {"share_audio", "share_video", "score_audio", "score_video"} <= set(rows[0])
    v1 = [row for row in rows if row["region"] == "V1" and float(row["share_video"]) + float(row["share_audio"]) > 0]
    assert v1 and all(float(row["share_video"]) > 0.95 for row in v1)


def test_attribute_writes_a_gif_by_its_suffix(clip, tmp_path, capsys):
    out = tmp_path / "map.gif"
    assert main(["attribute", str(clip), "--method", "ablation", "--out", str(out), "--quiet"]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames >= 2


@pytest.mark.parametrize(("args", "match"), [
    (["--method", "lime"], "invalid choice: 'lime'"),
    (["--steps", "1"], "--steps '1': accepted: a whole number from 2 to 512"),
    (["--steps", "600"], "from 2 to 512"),
    (["--model", "text2fmri"], "text2fmri reads text only"),
    (["--roi", "NotARegion"], "NotARegion"),
    (["--modalities", "text", "--model", "nforge-lite"], "no text"),
    (["--out", "attr.mp4"], "--out suffix '.mp4'"),
])
def test_bad_input_exits_2_with_one_clear_line(clip, tmp_path, capsys, args, match):
    try:
        code = main(["attribute", str(clip), "--quiet", "--out", str(tmp_path / "a.npz"), *args])
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert not (tmp_path / "a.npz").exists()


def test_info_refuses_a_damaged_attribution(tmp_path, capsys, clip):
    out = tmp_path / "attr.npz"
    assert main(["attribute", str(clip), "--out", str(out), "--quiet"]) == 0
    assert load_attribution(out).method == "shapley"
    out.write_bytes(out.read_bytes()[:200])
    assert main(["info", str(out)]) == 2
    assert "not" in capsys.readouterr().err


def test_batch_attribute_writes_an_attribution_beside_each_prediction(clip, tmp_path, capsys):
    folder = tmp_path / "stimuli"
    folder.mkdir()
    for name in ("one.mp4", "two.mp4"):
        (folder / name).write_bytes(clip.read_bytes())
    make_video(folder / "three.mp4", 5.0, audio="tone")
    out = tmp_path / "out"
    assert main(["batch", str(folder), "--out", str(out), "--attribute", "shapley", "--quiet"]) == 0
    predictions = sorted(p for p in out.glob("*.npz") if ".attr-" not in p.name)
    attributions = sorted(out.glob("*.attr-shapley.npz"))
    assert len(predictions) == 2 and len(attributions) == 2  # one.mp4 and two.mp4 share their content
    for prediction in predictions:
        attribution = load_attribution(prediction.with_name(prediction.stem + ".attr-shapley.npz"))
        with np.load(prediction) as npz:
            np.testing.assert_allclose(attribution.prediction(), npz["data"], atol=1e-6)
    assert main(["batch", str(folder), "--out", str(out), "--attribute", "shapley", "--quiet"]) == 0
    assert "0 ok" in capsys.readouterr().out  # everything done is skipped
    attributions[0].unlink()  # a missing attribution makes its stimulus run again
    assert main(["batch", str(folder), "--out", str(out), "--attribute", "shapley", "--quiet"]) == 0
    assert attributions[0].exists()
    assert main(["batch", str(folder), "--out", str(out), "--attribute", "lime", "--quiet"]) == 2
    assert main(["batch", str(folder), "--out", str(out), "--model", "text2fmri", "--attribute", "shapley",
                 "--quiet"]) == 2
    assert "text2fmri reads text only" in capsys.readouterr().err


def test_text2fmri_with_regions_writes_its_roi_attention(tmp_path, monkeypatch, capsys):
    from _tiny_models import save_tiny_qwen2, save_tiny_text2fmri

    save_tiny_text2fmri(tmp_path / "weights" / "text2fmri", save_tiny_qwen2(tmp_path / "qwen"))
    monkeypatch.setenv("NFORGE_WEIGHTS_DIR", str(tmp_path / "weights"))
    story = tmp_path / "story.txt"
    story.write_text("Once upon a time there was a small fox who lived near the river and liked to sing.")
    out = tmp_path / "attention.npz"
    assert main(["attribute", str(story), "--model", "text2fmri", "--roi", "Vis", "Default", "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("text2fmri reads text only") and "no split" in printed.splitlines()[0]
    assert "2 regions (Vis, Default)" in printed and "occlusion of each TR's text" in printed
    assert f"saved: {out}" in printed
    with np.load(out, allow_pickle=False) as npz:
        assert [str(n) for n in npz["roi_names"]] == ["Vis", "Default"]
        attention, stimulus_times = npz["attention"], npz["stimulus_times_s"]
        assert "occlusion" in str(npz["method"])
    loaded = load_roi_attention(out)
    assert attention.shape == (2, len(loaded.times_s), len(stimulus_times)) and len(stimulus_times) >= 2
    np.testing.assert_allclose(np.abs(attention).sum(-1), 1.0, atol=1e-5)
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "ROI temporal attention" in info and "model:      text2fmri" in info
    assert main(["attribute", str(story), "--model", "text2fmri", "--out", str(tmp_path / "b.npz"), "--quiet"]) == 2
    assert "text2fmri reads text only" in capsys.readouterr().err
    assert main(["attribute", str(story), "--model", "text2fmri", "--roi", "Vis", "--out", str(tmp_path / "b.png"),
                 "--quiet"]) == 2
    assert "written as .npz" in capsys.readouterr().err and not (tmp_path / "b.png").exists()
