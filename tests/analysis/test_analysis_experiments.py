"""In-silico experiments on nforge-lite, end to end: speech vs reversed speech (planted truth), the null, the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from nforge_app.analysis import TEACHING_EXPERIMENTS, block_design, contrast, get_teaching_experiment
from nforge_app.cli import main
from nforge_app.config import Settings
from nforge_app.engine import Engine
from nforge_app.errors import UserInputError
from nforge_app.export import CONTRAST_NPZ_KEYS, load_contrast_npz
from nforge_app.spaces import get_space
from nforge_app.stimuli._teaching import make_speech_stimuli

pytestmark = pytest.mark.slow
MORE_SENTENCES = ("Four old friends met at the station before the early train.",
                  "The museum opened a new hall full of ancient golden coins.",
                  "Heavy rain fell all night on the roofs of the sleeping town.",
                  "She wrote a long letter to her brother who lived far away.")


@pytest.fixture(scope="module")
def engine():
    return Engine(Settings.from_env(), device="cpu")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Four sentences as text files (words known) and the same played backwards (WAV, no words), and four
    more sentences played backwards."""
    folder = tmp_path_factory.mktemp("speech")
    texts, backwards = make_speech_stimuli(folder / "one")
    _, more_backwards = make_speech_stimuli(folder / "two", MORE_SENTENCES)
    return texts, backwards, more_backwards


@pytest.fixture(scope="module")
def speech_result(engine, speech):
    texts, backwards, _ = speech
    return contrast(texts, backwards, engine=engine, names=("speech", "reversed"))


def _region_mask(result, *names):
    space = get_space(result.space_id)
    return np.isin(result.indices, space.select(list(names)))


def test_speech_beats_reversed_speech_in_language_regions_only(speech_result):
    result = speech_result
    assert (result.n_a, result.n_b, result.n_permutations, result.exhaustive) == (4, 4, 70, True)
    assert result.smallest_p == pytest.approx(2 / 70)
    for region in ("STSdp", "STSda", "STSvp", "STSva", "44", "45"):
        inside = _region_mask(result, region)
        assert inside.any()
        assert np.all(result.effect[inside] > 0), region
        assert np.all(result.p_corrected[inside] < 0.05), region
    v1 = _region_mask(result, "V1")
    np.testing.assert_array_equal(result.effect[v1], 0.0)  # no picture in either condition
    assert np.all(result.p_corrected[v1] == 1.0)
    a1 = _region_mask(result, "A1")  # the same sounds, forwards or backwards
    assert np.all(result.p_corrected[a1] > 0.05)
    rows = {region: (effect, t, p) for region, effect, t, p in result.region_rows()}
    assert rows["45"][0] > 1.0 and rows["45"][2] < 0.05 and rows["V1"][0] == 0.0
    assert result.region_rows()[0][3] < 0.05


def test_reversed_vs_reversed_speech_finds_nothing(engine, speech):
    _, backwards, more_backwards = speech
    result = contrast(backwards, more_backwards, engine=engine, names=("one", "two"))
    assert result.n_permutations == 70
    assert np.nanmin(result.p_corrected) > 0.05 and result.region_p_corrected.min() > 0.05


def test_the_sequence_is_predicted_once_and_cached(engine, speech):
    texts, backwards, _ = speech
    design = block_design(texts, backwards, names=("speech", "reversed"), settings=engine.settings)
    again = block_design(texts, backwards, names=("speech", "reversed"), settings=engine.settings)
    reordered = block_design(texts, backwards, names=("speech", "reversed"), seed=1, settings=engine.settings)
    assert design.stimulus.content_hash == again.stimulus.content_hash != reordered.stimulus.content_hash
    assert design.events.trial_types != reordered.events.trial_types
    assert design.stimulus.modalities == ("text", "audio")
    # 4 + 4 blocks, each its sentence's length, 12-s rests before, between and after.
    np.testing.assert_allclose(np.diff(design.events.onsets_s) - design.events.durations_s[:-1], 12.0)
    assert design.stimulus.duration_s == pytest.approx(9 * 12.0 + design.events.durations_s.sum())
    stages = []
    engine.predict(design.stimulus, "nforge-lite", progress=lambda fraction, stage: stages.append(stage))
    assert stages == ["cached"]  # the contrast above predicted it already


def test_block_designs_are_checked(engine, speech):
    texts, backwards, _ = speech
    with pytest.raises(UserInputError, match="condition name 'two words'"):
        block_design(texts, backwards, names=("speech", "two words"))
    with pytest.raises(UserInputError, match="different names"):
        block_design(texts, backwards, names=("x", "x"))
    with pytest.raises(UserInputError, match="has no stimulus"):
        block_design(texts, [])
    with pytest.raises(UserInputError, match="more than the limit of 60 s"):
        block_design(texts, backwards, settings=Settings.from_env(max_duration_s=60.0))


def test_teaching_experiments_are_registered_with_their_classic_result():
    assert [e.key for e in TEACHING_EXPERIMENTS] == ["speech", "motion", "sound"]
    for experiment in TEACHING_EXPERIMENTS:
        assert experiment.classic.startswith("Mirrors") and experiment.classic.endswith(".")
        assert re.search(r"\.\s+[A-Z]", experiment.classic) is None  # one sentence
    with pytest.raises(UserInputError, match="unknown teaching experiment 'faces'"):
        get_teaching_experiment("faces")


@pytest.mark.parametrize(("key", "inside", "outside"), [("motion", ("MT", "MST"), ("A1", "45")),
                                                        ("sound", ("A1", "PBelt"), ("V1", "MT"))])
def test_teaching_experiments_find_their_classic_regions(engine, tmp_path_factory, key, inside, outside):
    experiment = get_teaching_experiment(key)
    a, b = experiment.stimuli(tmp_path_factory.mktemp("teaching"))
    result = contrast(a, b, engine=engine, names=experiment.names)
    for region in inside:
        mask = _region_mask(result, region)
        assert np.all(result.effect[mask] > 0) and np.all(result.p_corrected[mask] < 0.05), region
    for region in outside:
        assert np.all(result.effect[_region_mask(result, region)] == 0), region


def test_cli_contrast_writes_the_npz_and_says_what_p_means(speech, tmp_path, capsys):
    texts, backwards, _ = speech
    out = tmp_path / "c.npz"
    code = main(["contrast", "--a", *map(str, texts), "--b", *map(str, backwards), "--names", "speech", "reversed",
                 "--roi", "*STS*", "44", "45", "V1", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "70 relabellings (all" in printed and "smallest reachable p 0.0286" in printed
    assert "no scanner noise" in printed and "baseline, not trained on fMRI" in printed
    with np.load(out, allow_pickle=False) as npz:
        assert set(CONTRAST_NPZ_KEYS) <= set(npz.files)
        design = json.loads(str(npz["design"]))
        assert sorted(design["labels"]) == ["reversed"] * 4 + ["speech"] * 4
        assert len(design["onsets"]) == len(design["durations"]) == 8
        assert int(npz["n_a"]) == int(npz["n_b"]) == 4 and int(npz["n_permutations"]) == 70
        assert npz["effect"].shape == npz["t"].shape == npz["p_corrected"].shape == npz["indices"].shape
    result = load_contrast_npz(out)
    assert len(result.indices) < 20484  # only the regions asked for
    assert result.design.trial_types == tuple(design["labels"])


def test_cli_glm_reads_events_and_refuses_bad_ones(speech, tmp_path, capsys):
    texts, _, _ = speech
    events = tmp_path / "events.tsv"
    events.write_text("onset\tduration\ttrial_type\n0\t1.5\tfirst\n1.5\t2\tsecond\n", encoding="utf-8")
    out = tmp_path / "g.npz"
    code = main(["glm", str(texts[0]), "--events", str(events), "--contrast", "first - second", "--out", str(out),
                 "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "first - second" in capsys.readouterr().out
    assert load_contrast_npz(out).design.trial_types == ("first", "second")
    events.write_text("onset\tduration\ttrial_type\tstim_file\n0\t1\ta\tx.wav\n", encoding="utf-8")
    assert main(["glm", str(texts[0]), "--events", str(events), "--contrast", "a", "--quiet"]) == 2
    assert "unknown column(s) 'stim_file'" in capsys.readouterr().err
    events.write_text("onset\tduration\ttrial_type\n0\t1\ta\n99\t1\tb\n", encoding="utf-8")
    assert main(["glm", str(texts[0]), "--events", str(events), "--contrast", "a - b", "--quiet"]) == 2
    assert "past the end" in capsys.readouterr().err
    assert main(["glm", str(texts[0]), "--events", str(events), "--contrast", "a - b", "--out",
                 str(tmp_path / "g.png")]) == 2
    assert "name it <name>.npz" in capsys.readouterr().err and not (tmp_path / "g.png").exists()
    assert main(["glm", str(texts[0]), "--events", str(events), "--contrast", "a - b", "--device", "tpu"]) == 2
    assert "unknown device 'tpu'; accepted: auto, cpu, cuda" in capsys.readouterr().err
