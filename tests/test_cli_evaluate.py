"""`nforge evaluate` end to end: a saved prediction against measured files, eval.npz, `nforge info`, bad input."""

import numpy as np
import pytest
from test_cli import run_cli

from nforge_app.cli import main
from nforge_app.export import save_npz
from nforge_app.spaces import get_space
from nforge_app.values import Prediction

N_STEPS = 120


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A Schaefer prediction of the Vis network (saved), and two measured runs of all 1000 parcels."""
    folder = tmp_path_factory.mktemp("evaluate")
    space = get_space("schaefer1000")
    indices = space.select("Vis")
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((N_STEPS, space.n_outputs)).astype(np.float32)
    prediction = Prediction(data=signal[:, indices], times_s=np.arange(N_STEPS) * 1.49, tr_s=1.49,
                            space_id="schaefer1000", indices=indices, model_id="text2fmri", subject="1",
                            hrf_offset_s=0.0, time_axis="bold")
    save_npz(prediction, folder / "story.text2fmri.npz")
    for run in (1, 2):
        measured = signal + rng.standard_normal(signal.shape).astype(np.float32)
        np.savez(folder / f"run-{run}.npz", data=measured, tr_s=1.49)
    return folder, indices


def test_evaluate_then_info(files):
    folder, indices = files
    result = run_cli("evaluate", "story.text2fmri.npz", "run-1.npz", "--repeat", "run-2.npz", "--roi", "Vis",
                     "*Vis_1*", "--lag-search", cwd=folder)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "mean r 0.8" in out and f"Pearson r over {N_STEPS} time points" in out  # 1/sqrt(1 + 1/2) = 0.82
    assert "ceiling:    mean 0.8" in out and "lag:        +0 s (best of the lags searched)" in out
    assert "best regions" in out and "  Vis " in out and "saved: story.text2fmri.eval.npz" in out
    with np.load(folder / "story.text2fmri.eval.npz", allow_pickle=False) as npz:
        assert npz["r"].shape == indices.shape and npz["indices"].tolist() == indices.tolist()
        assert 0.75 < float(npz["mean_r"]) < 0.88 and float(npz["lag_s"]) == 0
        assert int(npz["n_timepoints"]) == N_STEPS and npz["noise_ceiling"].shape == indices.shape
    info = run_cli("info", "story.text2fmri.eval.npz", cwd=folder)
    assert info.returncode == 0 and "score:      mean r 0.8" in info.stdout and "alignment:" in info.stdout


@pytest.mark.parametrize(("args", "match"), [
    (["missing.npz", "run-1.npz"], "no such file: missing.npz"),
    (["{pred}", "nan.npz"], "NaN or infinite values"),
    (["{pred}", "narrow.npz"], "has 5 outputs per time point; accepted: 1000"),
    (["{pred}", "short.npz"], "at least 10 are needed"),
    (["{pred}", "run-1.npz", "--tr", "2"], "says its TR is 1.49 s but 2 s was given"),
    (["{pred}", "run-1.npz", "--roi", "Nowhere"], "unknown region name"),
])
def test_bad_input_exits_2_with_one_line(files, tmp_path, args, match, capsys, monkeypatch):
    folder, _ = files
    monkeypatch.chdir(folder)
    np.savez(tmp_path / "nan.npz", data=np.full((30, 1000), np.nan))
    np.savez(tmp_path / "narrow.npz", data=np.ones((30, 5)))
    np.savez(tmp_path / "short.npz", data=np.random.default_rng(1).standard_normal((4, 1000)))
    args = [str(tmp_path / a) if a.endswith(".npz") and not a.startswith(("{", "run-", "missing")) else a
            for a in args]
    args = [a.replace("{pred}", "story.text2fmri.npz") for a in args]
    assert main(["evaluate", *args, "--out", str(tmp_path / "eval.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nforge: error: ") and match in err and err.count("\n") == 1
    assert not (tmp_path / "eval.npz").exists()
