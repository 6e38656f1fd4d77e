"""The Evaluate section: the service scores a kept prediction, its r map payload, the API and the page."""

import json
import urllib.request

import numpy as np
import pytest
from _ui_helpers import CHROMIUM_ARGS

from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.export import load_evaluation
from nforge_app.spaces import get_space, load_fsaverage5
from nforge_app.ui._service import AppService
from nforge_app.values import Evaluation, Prediction
from nforge_app.viz import evaluation_payload
from nforge_app.viz._viewer import unpack_payload


def _prediction(space_id="fsaverage5", roi=("V1", "MT")):
    indices = get_space(space_id).select(list(roi))
    data = np.random.default_rng(0).standard_normal((30, len(indices))).astype(np.float32)
    return Prediction(data=data, times_s=np.arange(30.0), tr_s=1.0, space_id=space_id, indices=indices,
                      model_id="nforge-lite", subject="average", hrf_offset_s=0.0, time_axis="bold")


def _measured(prediction, path, noise=1.0, seed=1):
    """The prediction plus noise of ``noise`` times each output's standard deviation: r = 1/sqrt(1 + noise²)."""
    rng = np.random.default_rng(seed)
    scale = noise * prediction.data.std(axis=0)
    np.savez(path, data=prediction.data + scale * rng.standard_normal(prediction.data.shape).astype(np.float32),
             tr_s=prediction.tr_s)
    return str(path)


def test_r_map_payload_has_its_own_scale_and_histogram():
    space = get_space("schaefer1000")
    r = np.linspace(-0.2, 0.6, space.n_outputs)
    r[:10] = np.nan
    evaluation = Evaluation(r=r, indices=np.arange(space.n_outputs), space_id="schaefer1000", n_timepoints=99,
                            lag_s=1.49, alignment="planted.", metadata={"model_id": "text2fmri", "subject": "1"})
    meta, arrays = unpack_payload(evaluation_payload(evaluation, space, load_fsaverage5()))
    assert arrays["frames"].shape == (1, 20484) and meta["n_selected"] == space.n_outputs - 10
    assert meta["stats"]["abs_p99"] == pytest.approx(0.6) and meta["roi_lines"]["names"] == []
    histogram = meta["map"]["histogram"]
    assert sum(histogram["counts"]) == space.n_outputs - 10 and len(histogram["edges"]) == 41
    assert histogram["edges"][0] == pytest.approx(np.nanmin(r)) and histogram["edges"][-1] == pytest.approx(0.6)
    assert meta["map"]["mean"] == pytest.approx(np.nanmean(r))
    assert "over 99 time points (lag +1.49 s)" in meta["map"]["what"] and "10 outputs undefined" in meta["map"]["what"]
    # the glass brain shows the parcels' r at their centroids
    glass = meta["glass"]
    values = glass["offset"] + arrays["glass"][0].astype(float) * glass["scale"]
    np.testing.assert_allclose(values, r[10:], atol=glass["scale"])


@pytest.fixture()
def service(tmp_path):
    return AppService(settings=Settings.from_env(cache_dir=tmp_path / "cache"))


def test_evaluate_a_kept_prediction_then_show_it_again(service, tmp_path):
    prediction = _prediction()
    kept = service.keep(prediction, ["V1", "MT"], None, "story")
    result = service.evaluate(kept.prediction_id, [_measured(prediction, tmp_path / "run.npz")], "", 0, False)
    value = json.loads(result.viewer_value)
    assert value["title"] == "r map · story · nforge-lite" and value["prediction_id"] == kept.prediction_id
    payload = service.ui_dir / "payloads" / value["payload"].rsplit("/", 1)[1]
    meta, arrays = unpack_payload(payload.read_bytes())
    assert meta["map"]["label"] == "Pearson r" and arrays["frames"].shape == (1, 20484)
    assert abs(result.evaluation.mean_r - 1 / np.sqrt(2)) < 0.05
    assert result.summary.startswith(f"**Mean r {result.evaluation.mean_r:.3f}**") and "Best regions: " in result.summary
    assert "*Time alignment:* prediction on BOLD time" in result.summary
    saved = load_evaluation(result.file)
    assert result.file.name == "story.eval.npz" and saved.roi_names == ("V1", "MT")  # the regions asked for
    np.testing.assert_array_equal(saved.r, result.evaluation.r)
    assert service.view(kept.prediction_id) == kept.viewer_value
    with pytest.raises(UserInputError, match="no measured data yet"):
        service.evaluate(kept.prediction_id, [], "", 0, False)
    with pytest.raises(UserInputError, match="unknown prediction id"):
        service.evaluate("nope", [str(tmp_path / "run.npz")])
    with pytest.raises(UserInputError, match="says its TR is 1 s but 2 s was given"):
        service.evaluate(kept.prediction_id, [str(tmp_path / "run.npz")], tr_s=2.0)


@pytest.mark.slow
def test_evaluate_api(ui_server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(ui_server.url, verbose=False)
    assert "/evaluate" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    viewer, prediction_id, *_ = client.predict("per-TR text", None, None, None, "\n".join(["a b c"] * 12), 1.0,
                                               "nforge-lite", "average", [], api_name="/predict")
    prediction, _ = AppService(settings=ui_server.settings).load(prediction_id)
    measured = _measured(prediction, tmp_path / "measured.npz", noise=0.5)
    value, summary, file, *_ = client.predict(prediction_id, [handle_file(measured)], "", None, True,
                                              api_name="/evaluate")
    assert "Mean r" in summary and "best of the lags searched" in summary
    n_constant = int((prediction.data.std(axis=0) == 0).sum())  # outputs the lite model leaves constant
    assert load_evaluation(file).metadata["n_undefined"] == n_constant
    assert (f"({n_constant:,} constant, no r)" in summary) == (n_constant > 0)
    with urllib.request.urlopen(f"{ui_server.url}{json.loads(value)['payload']}") as response:
        meta, _ = unpack_payload(response.read())
    assert meta["map"]["mean"] > 0.8 and load_evaluation(file).lag_s == 0
    _, summary, *_ = client.predict(prediction_id, [], "", None, False, api_name="/evaluate")
    assert "Could not evaluate" in summary and "no measured data yet" in summary


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_draws_the_r_map_and_its_histogram(ui_server, tmp_path):
    from playwright.sync_api import sync_playwright
    from test_ui_browser import ARTIFACTS, LOAD_S, _pixels

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1400})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(ui_server.url)
        page.wait_for_selector(".nfv[data-state=ready]", timeout=LOAD_S * 1000)
        prediction_id = page.get_by_label("prediction id").input_value()
        prediction, _ = AppService(settings=ui_server.settings).load(prediction_id)
        plain_brain, plain_glass = _pixels(page.locator(".nfv-gl")), _pixels(page.locator(".nfv-glass"))

        page.get_by_role("tab", name="Evaluate").click()
        page.locator("#nforge-evaluate-files input[type=file]").set_input_files(
            _measured(prediction, tmp_path / "measured.npz", noise=0.7))
        page.get_by_role("button", name="Evaluate", exact=True).click()
        page.wait_for_function("document.querySelector('.nfv-title').textContent.startsWith('r map')",
                               timeout=LOAD_S * 1000)
        page.wait_for_selector(".nfv[data-state=ready][data-kind=map]", timeout=LOAD_S * 1000)
        page.get_by_text("Best regions:").first.wait_for(timeout=LOAD_S * 1000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "ui-evaluate.png", full_page=True)

        brain, glass = _pixels(page.locator(".nfv-gl")), _pixels(page.locator(".nfv-glass"))
        assert (np.abs(brain - plain_brain).sum(axis=2) > 30).mean() > 0.05, "the r map looks like the prediction"
        assert (np.abs(glass - plain_glass).sum(axis=2) > 30).mean() > 0.001
        histogram = _pixels(page.locator(".nfv-lines"))
        coloured = (histogram.max(axis=2) - histogram.min(axis=2)) > 60  # bars in the colour scale, not grey
        assert coloured.mean() > 0.02, "no histogram bars"
        assert page.locator(".nfv-lines-title").text_content() == "Histogram of Pearson r"
        assert page.locator(".nfv-player").is_hidden() and "Pearson r per vertex" in page.locator(
            ".nfv-axis-note").text_content()

        page.get_by_role("button", name="Show the prediction again").click()
        page.wait_for_selector(".nfv[data-state=ready][data-kind=series]", timeout=LOAD_S * 1000)
        assert not page.locator(".nfv-title").text_content().startswith("r map")
        assert not errors
        browser.close()
