"""Layer groups of the TRIBE v2 extractors: the worked examples of the spec, exactly."""

from pathlib import Path

import pytest
import torch

from nforge_app.features import _layers
from nforge_app.features._layers import (
    group_hidden_states,
    grouped_states,
    layer_group_indices,
    needed_states,
)

from _tiny_models import save_tiny_llama

SPEC_CONFIG = Path(__file__).resolve().parents[1] / "data" / "tribev2_config.yaml"


def test_llama_3b_with_cache_n_layers_20():
    assert layer_group_indices(29, (0.5, 0.75, 1.0), cache_n_layers=20) == [
        [13, 15, 16, 18, 19], [21, 22, 24, 25, 27, 28]]


def test_w2v_bert_without_sub_selection():
    assert layer_group_indices(25, (0.5, 0.75, 1.0)) == [list(range(12, 18)), list(range(18, 25))]


def test_vjepa2_giant_with_cache_n_layers_20():
    assert layer_group_indices(41, (0.5, 0.75, 1.0), cache_n_layers=20) == [
        [19, 21, 23, 25, 27], [29, 32, 34, 36, 38, 40]]


def test_sub_selection_covers_all_20_cached_states_of_vjepa2():
    groups = layer_group_indices(41, cache_n_layers=20)
    # The cut is at positions 9 and 14 of the 20 cached states [0, 2, 4, 6, 8, 11, 13, 15, ...].
    assert groups[0][0] == 19 and groups[1][0] == 29 and groups[1][-1] == 40


def test_tiny_model_repeats_states_when_fewer_than_cache_n_layers():
    assert layer_group_indices(5, cache_n_layers=20) == [[2, 2, 2, 3, 3], [3, 3, 3, 4, 4, 4]]
    assert layer_group_indices(5) == [[2], [3, 4]]


def test_fractions_and_cache_n_layers_as_the_spec_config_gives_them():
    from nforge_app.models._tribe_release import load_config

    data = load_config(SPEC_CONFIG)["data"]
    text, video = data["text_feature"], data["video_feature"]["image"]
    assert layer_group_indices(29, text["layers"], text["cache_n_layers"])[1] == [21, 22, 24, 25, 27, 28]
    assert layer_group_indices(41, video["layers"], video["cache_n_layers"])[0] == [19, 21, 23, 25, 27]


@pytest.mark.parametrize("bad", [dict(fractions=()), dict(fractions=(0.75, 0.5)), dict(fractions=(0.5, 1.5)),
                                 dict(cache_n_layers=1), dict(fractions=(1.0,))])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        layer_group_indices(25, **bad)


def test_group_hidden_states_averages_each_group_in_float32():
    states = [torch.full((2, 3), float(i), dtype=torch.bfloat16) for i in range(5)]
    grouped = group_hidden_states(states, [[2, 2, 3], [3, 4]])
    assert grouped.dtype == torch.float32 and grouped.shape == (2, 2, 3)
    assert torch.allclose(grouped[0], torch.full((2, 3), 7 / 3)) and torch.allclose(grouped[1], torch.full((2, 3), 3.5))


def test_group_hidden_states_ignores_states_outside_groups():
    states = [None, None, torch.ones(4), torch.zeros(4)]
    assert torch.equal(group_hidden_states(states, [[2], [2, 3]]), torch.tensor([[1.0] * 4, [0.5] * 4]))
    assert needed_states([[3, 2, 2], [3, 5]]) == [2, 3, 5]


@pytest.mark.parametrize("selects", [True, False], ids=["states-asked-for", "all-states"])
def test_grouped_states_are_the_models_own_states_in_place(tmp_path, monkeypatch, selects):
    from transformers import AutoModel

    monkeypatch.setattr(_layers, "_selects_hidden_states", lambda: selects)
    model = AutoModel.from_pretrained(save_tiny_llama(tmp_path)).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.inference_mode():
        every = model(input_ids=ids, output_hidden_states=True).hidden_states
        for groups in ([[0], [4]], [[1, 2]], [[2, 3], [3, 4]]):
            got = grouped_states(model, groups, input_ids=ids)
            assert len(got) == len(every) == 5
            for i, state in enumerate(got):
                if i in needed_states(groups):
                    torch.testing.assert_close(state, every[i])
                else:
                    assert state is None
