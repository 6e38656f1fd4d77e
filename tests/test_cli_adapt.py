"""`nforge adapt` then `nforge predict --subject mine`, `nforge subjects list|delete`, and bad input (exit 2)."""

import numpy as np
import pytest

from nforge_app.analysis.metrics import voxelwise_pearson
from nforge_app.cli import main
from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.stimuli import load_stimulus

from _media import make_scene

DURATION_S = 40.0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Four runs: videos and measured npz made from planted weights on the lite model's hidden features."""
    from nforge_app.analysis._adapt import hidden_features

    folder = tmp_path_factory.mktemp("cli-adapt")
    engine = Engine(Settings.from_env(cache_dir=folder / "features"), device="cpu")
    model = engine.load_model("nforge-lite")
    rng = np.random.default_rng(5)
    weights = None
    for i in range(4):
        path = make_scene(folder / f"run-{i}.mp4", DURATION_S, seed=10 + i)
        hidden = hidden_features(engine, model, load_stimulus(path, engine.settings)).data
        weights = rng.standard_normal((hidden.shape[1], 20484)) if weights is None else weights
        signal = hidden @ weights
        np.savez(folder / f"run-{i}.npz", data=(signal + 0.4 * signal.std(axis=0) * rng.standard_normal(signal.shape))
                 .astype(np.float32), tr_s=1.0)
    return folder


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NFORGE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _adapt_args(folder, n=3, name="mine"):
    return ["adapt", "--stimuli", *[str(folder / f"run-{i}.mp4") for i in range(n)],
            "--measured", *[str(folder / f"run-{i}.npz") for i in range(n)], "--name", name, "--quiet"]


def test_adapt_then_predict_with_the_subject_then_delete_it(files, cache, tmp_path, capsys):
    assert main([*_adapt_args(files), "--out", str(tmp_path / "report.npz")]) == 0
    out = capsys.readouterr().out
    assert "subject:    mine (adapted) of nforge-lite, 20,484 outputs" in out
    assert "held out:   run 3 (run-2.mp4): mean r 0.8" in out or "held out:   run 3 (run-2.mp4): mean r 0.9" in out
    assert "try:  nforge predict STIMULUS --model nforge-lite --subject mine" in out
    with np.load(tmp_path / "report.npz", allow_pickle=False) as report:
        assert float(report["mean_r"]) >= 0.8 and report["r"].shape == (20484,)
    assert main(["predict", str(files / "run-3.mp4"), "--subject", "mine", "--out", str(tmp_path / "p.npz"),
                 "--quiet"]) == 0
    assert "subject:    mine" in capsys.readouterr().out
    with np.load(tmp_path / "p.npz", allow_pickle=False) as npz:
        data = npz["data"]
    measured = np.load(files / "run-3.npz")["data"]
    assert np.nanmean(voxelwise_pearson(data, measured)) >= 0.8  # a run the subject never saw
    assert main(["subjects", "list"]) == 0
    listed = capsys.readouterr().out
    assert "subject:    mine (adapted)" in listed and "alphas:     median" in listed
    assert main(["subjects", "delete", "mine"]) == 0
    assert "deleted: mine (nforge-lite)" in capsys.readouterr().out
    assert not (cache / "subjects" / "nforge-lite" / "mine").exists()
    assert main(["predict", str(files / "run-3.mp4"), "--subject", "mine", "--quiet"]) == 2
    assert "subject 'mine' is not valid for nforge-lite" in capsys.readouterr().err


@pytest.mark.parametrize(("change", "match"), [
    (lambda args: args[:args.index("--measured") + 2] + args[args.index("--name"):], "3 stimuli and 1 measured runs"),
    (lambda args: [a if a != "mine" else "my/subject" for a in args], "subject name 'my/subject'"),
    (lambda args: [a if not a.endswith("run-1.npz") else "{narrow}" for a in args], "has 7 outputs per time point"),
    (lambda args: [*args[:1], "--model", "tribe-v2", *args[1:]], "put config.yaml and best.ckpt in"),
    (lambda args: [a if not a.endswith("run-1.npz") else "{short}" for a in args], "at least 10 are needed"),
    (lambda args: [a if not a.endswith("run-1.npz") else "{nan}" for a in args], "NaN or infinite values"),
    (lambda args: [a if not a.endswith("run-1.npz") else "{constant}" for a in args], "is constant over time"),
])
def test_bad_input_exits_2_with_one_line_and_saves_nothing(files, cache, tmp_path, capsys, change, match):
    rng = np.random.default_rng(0)
    bad = {"narrow": rng.standard_normal((40, 7)), "short": rng.standard_normal((5, 20484)),
           "nan": np.where(np.eye(40, 20484) > 0, np.nan, rng.standard_normal((40, 20484))),
           "constant": np.ones((40, 20484))}
    for name, data in bad.items():
        np.savez(tmp_path / f"{name}.npz", data=data.astype(np.float32), tr_s=1.0)
    args = change(_adapt_args(files))
    for name in bad:
        args = [a.replace("{" + name + "}", str(tmp_path / f"{name}.npz")) for a in args]
    assert main([*args, "--out", str(tmp_path / "report.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nforge: error: ") and match in err and err.count("\n") == 1
    assert not (tmp_path / "report.npz").exists()
    assert not (cache / "subjects").exists() or not any((cache / "subjects").rglob("card.json"))
