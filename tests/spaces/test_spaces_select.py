"""Selecting outputs by region names, wildcards, networks and masks, and the errors users can cause."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.errors import UserInputError
from nforge_app.spaces import NETWORKS, get_space


def test_glasser_has_180_bilateral_names(surface):
    assert len(surface.roi_labels) == 180 and len(set(surface.roi_labels)) == 180
    for name in ("V1", "FFC", "STSdp", "55b", "p9-46v", "OP2-3", "a32pr", "p24"):
        assert name in surface.roi_labels


def test_v1_selects_both_hemispheres(surface):
    idx = surface.select("V1")
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    assert (idx < surface.n_lh).sum() > 100 and (idx >= surface.n_lh).sum() > 100
    v1 = surface.roi_labels.index("V1")
    assert np.all(surface.roi_assignment[idx] == v1)
    assert len(idx) == (surface.roi_assignment == v1).sum()


def test_no_selection_is_everything(surface, parcels):
    assert np.array_equal(surface.select(), np.arange(20484))
    assert np.array_equal(parcels.select(roi=[]), np.arange(1000))


def test_several_names_are_a_union(surface):
    both = surface.select(["V1", "FFC"])
    assert np.array_equal(both, np.union1d(surface.select("V1"), surface.select("FFC")))


def test_wildcards(surface):
    names = {surface.roi_labels[i] for i in np.unique(surface.roi_assignment[surface.select("V*")])}
    assert names == {n for n in surface.roi_labels if n.startswith("V")}
    assert {"V1", "V2", "VMV1", "VVC", "V3CD"} <= names
    sts = {surface.roi_labels[i] for i in np.unique(surface.roi_assignment[surface.select("*STS*")])}
    assert sts == {"STSda", "STSdp", "STSva", "STSvp"}
    assert np.array_equal(surface.select("V?"), surface.select(["V1", "V2", "V3", "V4", "V6", "V7", "V8"]))


def test_case_insensitive_only_when_nothing_matches(surface):
    assert np.array_equal(surface.select("v1"), surface.select("V1"))
    assert np.array_equal(surface.select("ffc"), surface.select("FFC"))
    assert np.array_equal(surface.select("default"), surface.select("Default"))


@pytest.mark.parametrize("space_id", ["fsaverage5", "schaefer1000"])
def test_networks_partition_the_cortex(space_id):
    space = get_space(space_id)
    assert tuple(space.networks) == NETWORKS
    stacked = np.stack(list(space.networks.values()))
    assert stacked.dtype == bool and stacked.shape == (7, space.n_outputs)
    assert stacked.sum(axis=0).max() == 1  # no output in two networks
    for name, mask in space.networks.items():
        assert np.array_equal(space.select(name), np.flatnonzero(mask))


def test_vis_on_the_surface_covers_v1(surface):
    assert np.isin(surface.select("V1"), surface.select("Vis")).mean() > 0.9
    assert not np.isin(surface.select("V1"), surface.select("Default")).any()


def test_network_mask_on_surface_matches_parcel_networks(surface, parcels):
    # a vertex is in a network on the surface exactly when its Schaefer parcel is in that network
    pov = parcels.parcel_of_vertex
    for name in NETWORKS:
        expected = (pov >= 0) & parcels.networks[name][np.maximum(pov, 0)]
        assert np.array_equal(surface.networks[name], expected)


def test_parcel_names_and_wildcards(parcels):
    assert np.array_equal(parcels.select("7Networks_LH_Vis_1"), [0])
    assert np.array_equal(parcels.select("7Networks_RH_Vis_1"), [500])
    assert np.array_equal(parcels.select("*_RH_*"), np.arange(500, 1000))
    assert np.array_equal(parcels.select("7Networks_LH_Default_*"),
                          np.flatnonzero(parcels.networks["Default"][:500]))


def test_mask_alone_and_union_with_names(surface):
    mask = np.zeros(20484, dtype=int)
    mask[100:200] = 1
    assert np.array_equal(surface.select(mask=mask), np.arange(100, 200))
    assert np.array_equal(surface.select(mask=mask.astype(bool).tolist()), np.arange(100, 200))
    union = surface.select(roi=["V1"], mask=mask)
    assert np.array_equal(union, np.union1d(surface.select("V1"), np.arange(100, 200)))
    # an all-zero mask next to a name is fine: the union is not empty
    assert np.array_equal(surface.select("V1", mask=np.zeros(20484)), surface.select("V1"))


def test_unknown_name_suggests_close_names(surface, parcels):
    with pytest.raises(UserInputError, match=r"'FFX'.*FFC.*wildcards.*Vis") as info:
        surface.select(["V1", "FFX"])
    assert "'V1'" not in str(info.value)
    with pytest.raises(UserInputError, match="'Visual': did you mean Vis"):
        parcels.select("Visual")
    with pytest.raises(UserInputError, match="no close name"):
        surface.select("qqqqqqqq")


@pytest.mark.parametrize("mask", [np.ones(20483), np.ones(20485, dtype=bool), [1, 0], np.ones((2, 20484))])
def test_mask_of_wrong_length(surface, mask):
    with pytest.raises(UserInputError, match="exactly 20484 values"):
        surface.select(mask=mask)


@pytest.mark.parametrize("mask", [np.full(1000, 2), np.full(1000, 0.5), np.array(["1"] * 1000)])
def test_non_binary_mask(parcels, mask):
    with pytest.raises(UserInputError, match="only 0/1"):
        parcels.select(mask=mask)


def test_empty_selection_and_non_string_names(parcels):
    with pytest.raises(UserInputError, match="picks no parcel"):
        parcels.select(mask=np.zeros(1000, dtype=bool))
    for bad in (["Vis", 3], 3):
        with pytest.raises(UserInputError, match="must be strings"):
            parcels.select(roi=bad)
