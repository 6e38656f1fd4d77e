"""Region codes in words: every Glasser area of the atlas has its full name, every Schaefer parcel its
hemisphere and network."""

from nforge_app.spaces import GLASSER_NAMES, NETWORK_NAMES, NETWORKS, describe_region, get_space


def test_every_glasser_area_has_its_full_name():
    labels = get_space("fsaverage5").roi_labels
    assert set(labels) == set(GLASSER_NAMES) and len(GLASSER_NAMES) == 180
    assert describe_region("A1") == "primary auditory cortex" and describe_region("44").startswith("area 44 (Broca")


def test_schaefer_parcels_say_their_hemisphere_and_network():
    labels = get_space("schaefer1000").roi_labels
    assert set(NETWORK_NAMES) == set(NETWORKS)
    for label in labels:
        words = describe_region(label)
        hemi = "left" if "_LH_" in label else "right"
        network = label.split("_")[2]
        assert words.startswith(f"{hemi} hemisphere, {NETWORK_NAMES[network]} network ({network})"), label
        assert words.endswith(f"parcel {label.rsplit('_', 1)[1]}")
    assert describe_region("7Networks_LH_Default_PFC_3") == ("left hemisphere, default mode network (Default), "
                                                             "prefrontal, parcel 3")
    assert describe_region("not a region") == ""
