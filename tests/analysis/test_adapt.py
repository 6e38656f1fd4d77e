"""Subject adaptation on planted truth: measured runs made from known weights on a model's hidden features."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nforge_app.analysis import adapt, fit_ridge, list_subjects, load_subject, save_subject
from nforge_app.analysis._adapt import hidden_features, zscore
from nforge_app.analysis.metrics import voxelwise_pearson
from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.stimuli import load_stimulus

from _media import make_scene

N_RUNS, DURATION_S, N_VERTICES = 5, 45.0, 20484
NOISE = 0.5  # noise sd over signal sd, per vertex: r of a perfect readout = 1 / sqrt(1 + 0.25) = 0.89


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return Engine(Settings.from_env(cache_dir=tmp_path_factory.mktemp("adapt-cache")), device="cpu")


@pytest.fixture(scope="module")
def experiment(engine, tmp_path_factory):
    """Five runs (a video each), their lite hidden features, planted weights and measured runs made from them."""
    folder = tmp_path_factory.mktemp("adapt")
    model = engine.load_model("nforge-lite")
    stimuli = [make_scene(folder / f"run-{i}.mp4", DURATION_S, seed=i) for i in range(N_RUNS)]
    hidden = [hidden_features(engine, model, load_stimulus(path, engine.settings)) for path in stimuli]
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((hidden[0].data.shape[1], N_VERTICES))
    measured, signals = [], []
    for i, features in enumerate(hidden):
        signal = features.data @ weights
        noise = NOISE * signal.std(axis=0) * rng.standard_normal(signal.shape)
        measured.append(folder / f"run-{i}.npz")
        np.savez(measured[-1], data=(signal + noise).astype(np.float32), tr_s=1.0)
        signals.append(signal)
    return dict(folder=folder, stimuli=stimuli, measured=measured, hidden=hidden, weights=weights, signals=signals)


@pytest.fixture(scope="module")
def fitted(engine, experiment):
    """The subject fitted on runs 1-4 (run 4 held out), saved as 'mine'."""
    return adapt("nforge-lite", experiment["stimuli"][:4], experiment["measured"][:4], name="mine", engine=engine)


def test_adapted_subject_reaches_planted_truth_and_beats_the_average_subject(fitted):
    card = fitted.card
    assert card["held_out_run"] == 4 and card["n_timepoints"] == 4 * DURATION_S
    assert card["held_out_mean_r"] >= 0.8
    assert card["held_out_mean_r"] > card["default_subject_mean_r"] + 0.5
    assert fitted.evaluation.mean_r == pytest.approx(card["held_out_mean_r"])
    assert np.array_equal(fitted.held_out_r, fitted.evaluation.r, equal_nan=True)
    assert "leave one run out (4 folds)" in card["solver"] and card["refit_on_all_runs"]
    assert set(card["modality_importance_r2"]) == {"audio", "video"}


def test_engine_predicts_a_new_stimulus_with_the_adapted_subject(engine, experiment, fitted):
    prediction = engine.predict(experiment["stimuli"][4], "nforge-lite", subject="mine")
    assert prediction.subject == "mine" and prediction.data.shape == (DURATION_S, N_VERTICES)
    assert prediction.metadata["adapted_subject"]["content_hash"] == fitted.content_hash
    measured = np.load(experiment["measured"][4])["data"]
    assert np.nanmean(voxelwise_pearson(prediction.data, measured)) >= 0.8
    assert np.nanmean(voxelwise_pearson(prediction.data, experiment["signals"][4])) >= 0.95  # the noise-free truth
    region = engine.predict(experiment["stimuli"][4], "nforge-lite", subject="mine", roi="V1")
    columns = np.searchsorted(prediction.indices, region.indices)
    np.testing.assert_allclose(region.data, prediction.data[:, columns], rtol=1e-5, atol=1e-6)
    assert engine.check_subject("nforge-lite", "mine") == "mine"
    with pytest.raises(UserInputError, match=r"accepted: average, mine \(adapted\)"):
        engine.check_subject("nforge-lite", "someone")


def test_saved_subject_round_trips_exactly(engine, fitted):
    loaded = load_subject(engine.settings, "nforge-lite", "mine")
    for key in ("indices", "mean", "scale", "weights", "intercept", "alphas", "held_out_r"):
        original, back = getattr(fitted, key), getattr(loaded, key)
        assert back.dtype == original.dtype and np.array_equal(back, original, equal_nan=True), key
    assert loaded.columns == fitted.columns and loaded.column_modalities == fitted.column_modalities
    assert loaded.content_hash == fitted.content_hash
    saved = json.loads((engine.settings.cache_dir / "subjects" / "nforge-lite" / "mine" / "card.json").read_text())
    assert saved["held_out_mean_r"] == fitted.card["held_out_mean_r"] and saved["content_hash"] == fitted.content_hash
    with np.load(engine.settings.cache_dir / "subjects" / "nforge-lite" / "mine" / "subject.npz",
                 allow_pickle=False) as npz:  # plain arrays: readable without pickle
        assert npz["weights"].shape == fitted.weights.shape
    assert [card["name"] for card in list_subjects(engine.settings, "nforge-lite")] == ["mine"]


def test_a_refitted_subject_changes_the_prediction_key(engine, experiment, fitted, tmp_path):
    settings = Settings.from_env(cache_dir=tmp_path)
    other = Engine(settings, device="cpu")
    save_subject(fitted, settings)
    before = other.prediction_key("stimulus-hash", "nforge-lite", subject="mine")
    assert before != other.prediction_key("stimulus-hash", "nforge-lite")
    refitted = adapt("nforge-lite", experiment["stimuli"][1:5], experiment["measured"][1:5], name="mine",
                     engine=other, replace=True)
    assert refitted.content_hash != fitted.content_hash
    assert other.prediction_key("stimulus-hash", "nforge-lite", subject="mine") != before


def test_chosen_alpha_grows_with_the_noise(experiment):
    x_runs = [features.data for features in experiment["hidden"][:3]]
    weights = experiment["weights"][:, :2000]
    rng = np.random.default_rng(1)
    medians = []
    for noise in (0.05, 1.0, 20.0):
        y_runs = []
        for x in x_runs:
            signal = x @ weights
            y_runs.append(zscore(signal + noise * signal.std(axis=0) * rng.standard_normal(signal.shape)))
        medians.append(float(np.median(fit_ridge(x_runs, y_runs).alphas)))
    assert medians[0] < medians[1] < medians[2]


def test_banded_ridge_gives_each_modality_its_share(engine, experiment, tmp_path):
    """Weights planted on the video channels only: the video band carries the held-out prediction."""
    hidden = experiment["hidden"]
    video = np.array([m == "video" for m in hidden[0].column_modalities])
    settings = Settings.from_env(cache_dir=tmp_path)
    own = Engine(settings, device="cpu")
    indices = own.select("nforge-lite", "V1")
    rng = np.random.default_rng(2)
    weights = rng.standard_normal((len(video), len(indices))) * video[:, None]
    runs = []
    for features in hidden[:4]:
        signal = features.data @ weights
        runs.append((signal + 0.3 * signal.std(axis=0) * rng.standard_normal(signal.shape)).astype(np.float32))
    subject = adapt("nforge-lite", experiment["stimuli"][:4], runs, name="banded", engine=own, roi="V1",
                    tr_s=1.0, banded=True, refit=False)
    importance = subject.card["modality_importance_r2"]
    assert "BandedRidgeCV" in subject.card["solver"] and subject.card["held_out_mean_r"] >= 0.8
    assert importance["video"] > 0.5 > 0.05 > importance["audio"]
    assert np.array_equal(subject.indices, indices)


def test_tiny_tribe_on_stimulus_time_with_fewer_points_than_hidden_columns(tmp_path):
    """TRIBE v2's hidden features (stimulus time, BOLD 5 s later) through a tiny random release: the kernel
    solver (fewer training points than hidden columns) and the primal one give the planted readout back."""
    from nforge_app.features import FeatureSet
    from nforge_app.models.tribe import TribeModel
    from nforge_app.stimuli import Stimulus

    from _releases import SMALL_BUILD_ARGS, write_tribe_release

    settings = Settings.from_env(cache_dir=tmp_path / "cache")
    model = TribeModel(settings, variant=str(write_tribe_release(tmp_path / "tribe", seed=1)), device="cpu",
                       fast=False)
    model.load()

    class Features:  # the engine's part: seeded random features per stimulus
        def __init__(self):
            self.settings = settings

        def load_model(self, *args, **kwargs):
            return model

        def extract_features(self, loaded, stimulus, progress=None):
            rng = np.random.default_rng(int(stimulus.content_hash))
            n = int(stimulus.duration_s * 2)
            arrays = {m: rng.standard_normal((*dims, n)).astype(np.float32)
                      for m, dims in SMALL_BUILD_ARGS["feature_dims"].items()}
            return FeatureSet(arrays, rate_hz=2.0, n_steps=n, duration_s=stimulus.duration_s,
                              extractor_ids={m: "test" for m in arrays})

    source = Features()
    stimuli = [Stimulus(kind="video", source=f"run-{i}", content_hash=str(i), duration_s=30.0) for i in range(4)]
    hidden = [model.transform(source.extract_features(model, s), s) for s in stimuli]
    assert hidden[0].data.shape == (30, 96) and hidden[0].hrf_offset_s == 5.0
    rng = np.random.default_rng(3)
    weights = rng.standard_normal((96, 300))
    runs = []
    for features in hidden:
        data = rng.standard_normal((40, N_VERTICES)).astype(np.float32)  # volumes outside the stimulus: noise
        signal = features.data @ weights
        data[5:35, :300] = signal + 0.3 * signal.std(axis=0) * rng.standard_normal(signal.shape)
        runs.append(data)
    subject = adapt(model, stimuli, runs, name="tiny", engine=source, tr_s=1.0, save=False)
    r = subject.held_out_r
    assert np.nanmean(r[:300]) >= 0.8 > 0.3 > abs(np.nanmean(r[300:]))
    assert subject.card["n_timepoints_per_run"] == [30] * 4
    assert "30 of 40 volumes overlap" in " ".join(subject.card["notes"])
    # 3 x 30 training points < 96 columns: the kernel solver scored the held-out run; the refit is primal
    assert "RidgeCV" in subject.card["solver"]
    prediction = subject.readout(hidden[0])
    assert (prediction.time_axis, prediction.hrf_offset_s) == ("stimulus", 5.0)


def _files(experiment, tmp_path, problem):
    stimuli, measured = list(experiment["stimuli"][:3]), list(experiment["measured"][:3])
    data = np.load(measured[0])["data"]
    if problem == "vertices":
        np.savez(tmp_path / "bad.npz", data=data[:, :1000], tr_s=1.0)
    elif problem == "short":
        np.savez(tmp_path / "bad.npz", data=data[:5], tr_s=1.0)
    elif problem == "nan":
        data = data.copy()
        data[3, 7] = np.nan
        np.savez(tmp_path / "bad.npz", data=data, tr_s=1.0)
    elif problem == "constant":
        np.savez(tmp_path / "bad.npz", data=np.ones_like(data), tr_s=1.0)
    elif problem == "counts":
        return stimuli, measured[:2]
    elif problem == "one run":
        return stimuli[:1], measured[:1]
    else:
        return stimuli, measured
    measured[1] = tmp_path / "bad.npz"
    return stimuli, measured


@pytest.mark.parametrize(("problem", "name", "match"), [
    ("vertices", "x", "has 1000 outputs per time point; accepted: 20484"),
    ("short", "x", "at least 10 are needed"),
    ("nan", "x", "NaN or infinite values"),
    ("constant", "x", "every output of bad.npz is constant over time"),
    ("counts", "x", "3 stimuli and 2 measured runs"),
    ("one run", "x", "at least 2 runs"),
    (None, "../evil", "subject name '../evil': accepted"),
    (None, "a/b", "subject name 'a/b': accepted"),
    (None, "average", "is nforge-lite's own subject"),
    (None, "mine", "exists already"),
])
def test_bad_input_is_refused_and_nothing_is_saved(engine, experiment, fitted, tmp_path, problem, name, match):
    stimuli, measured = _files(experiment, tmp_path, problem)
    before = list_subjects(engine.settings)
    with pytest.raises(UserInputError, match=match):
        adapt("nforge-lite", stimuli, measured, name=name, engine=engine)
    assert list_subjects(engine.settings) == before
    assert not [p for p in (engine.settings.cache_dir / "subjects" / "nforge-lite").iterdir()
                if p.name.startswith(".")]


def test_a_model_without_weights_is_refused(engine, experiment, tmp_path):
    empty = Engine(Settings.from_env(cache_dir=tmp_path, weights_dir=tmp_path / "none"), device="cpu")
    with pytest.raises(UserInputError):
        adapt("tribe-v2", experiment["stimuli"][:2], experiment["measured"][:2], name="x", engine=empty)
    assert list_subjects(empty.settings) == []


@pytest.mark.parametrize("n_columns", [3, 12])
def test_the_few_columns_solver_gives_himalayas_ridge(n_columns):
    """With a few hidden columns the ridge is solved in their space: the alphas and weights of himalaya's
    RidgeCV on the same folds (near-ties in the criterion aside)."""
    from himalaya.ridge import RidgeCV
    from sklearn.model_selection import PredefinedSplit

    from nforge_app.analysis._adapt import DEFAULT_ALPHAS, _few_columns_ridge_cv

    rng = np.random.default_rng(n_columns)
    x = rng.standard_normal((180, n_columns)).astype(np.float32)
    noise = rng.uniform(0.2, 20.0, 500)  # outputs from clean to hopeless: every alpha gets chosen somewhere
    y = (x @ rng.standard_normal((n_columns, 500)) + noise * rng.standard_normal((180, 500))).astype(np.float32)
    y = (y - y.mean(axis=0)) / y.std(axis=0)
    folds = np.repeat(np.arange(3), 60)
    alphas = DEFAULT_ALPHAS.astype(np.float32)
    reference = RidgeCV(alphas=alphas, cv=PredefinedSplit(folds), solver_params=dict(warn=False)).fit(x, y)
    weights, chosen = _few_columns_ridge_cv(x, y, folds, alphas)
    assert len(np.unique(chosen)) >= 3
    assert np.mean(np.isclose(chosen, np.asarray(reference.best_alphas_), rtol=1e-3)) >= 0.97
    np.testing.assert_allclose(x @ weights, x @ np.asarray(reference.coef_), atol=2e-3 * np.abs(y).max())
