"""Atlas files: manifest, the packaged copies and their licences, the override folder, the centroid table."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from nforge_app._files import file_sha256
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.spaces import atlas_manifest, atlas_path, read_centroids
from nforge_app.spaces._atlases import CENTROIDS_CSV, PACKAGED_DIR, STRUCTURE_CHECKED

SHARED = PACKAGED_DIR
ANNOTS = ["fsa5_lh_glasser_360.annot", "fsa5_rh_glasser_360.annot", "fsa5_lh_schaefer_1000.annot",
          "fsa5_rh_schaefer_1000.annot"]


def test_manifest_lists_every_file_with_source_licence_and_checksum():
    manifest = atlas_manifest()
    assert sorted(manifest) == sorted(ANNOTS + [CENTROIDS_CSV])
    for name, entry in manifest.items():
        assert entry["source"].startswith("https://raw.githubusercontent.com/") and entry["source"].endswith("/" + name)
        assert entry["licence"]
    assert manifest[CENTROIDS_CSV]["sha256"] == STRUCTURE_CHECKED
    assert "d66a7ef320a913f9441bf1089b44f1dad11e5724" in manifest[ANNOTS[0]]["source"]
    assert "d1454a611f7de10a3b36665e6fbb3fb6c770d140" in manifest[CENTROIDS_CSV]["source"]


@pytest.mark.parametrize("name", ANNOTS)
def test_packaged_annots_match_their_pinned_checksums(name):
    assert file_sha256(PACKAGED_DIR / name) == atlas_manifest()[name]["sha256"]


def test_packaged_files_ship_with_their_licences():
    assert "BSD 3-Clause" in (PACKAGED_DIR / "LICENSE-ENIGMA").read_text()
    assert "Permission is hereby granted, free of charge" in (PACKAGED_DIR / "LICENSE-CBIG").read_text()
    readme = (PACKAGED_DIR / "README.md").read_text()
    assert "Glasser" in readme and "Schaefer" in readme


def test_packaged_copy_is_used_by_default(tmp_path):
    assert atlas_path(ANNOTS[0], Settings(cache_dir=tmp_path)) == PACKAGED_DIR / ANNOTS[0]
    assert not (tmp_path / "atlases").exists()  # nothing fetched, nothing copied


def test_no_network_code_is_left_in_the_atlas_module():
    source = (PACKAGED_DIR.parent / "_atlases.py").read_text()
    assert "urllib" not in source and "urlopen" not in source


def test_atlas_dir_overrides_the_packaged_copy(tmp_path):
    shutil.copy(PACKAGED_DIR / ANNOTS[0], tmp_path / ANNOTS[0])
    assert atlas_path(ANNOTS[0], Settings(atlas_dir=tmp_path)) == tmp_path / ANNOTS[0]


def test_atlas_dir_missing_file_names_folder_and_file(tmp_path):
    with pytest.raises(UserInputError, match=f"{tmp_path}.*{ANNOTS[1]}"):
        atlas_path(ANNOTS[1], Settings(atlas_dir=tmp_path))


def test_atlas_dir_file_is_still_checked(tmp_path):
    (tmp_path / ANNOTS[0]).write_bytes(b"not an annot")
    with pytest.raises(UserInputError, match="sha256"):
        atlas_path(ANNOTS[0], Settings(atlas_dir=tmp_path))


def test_a_file_changed_in_place_is_checked_again(tmp_path):
    path = tmp_path / ANNOTS[2]
    shutil.copy(PACKAGED_DIR / ANNOTS[2], path)
    atlas_path(ANNOTS[2], Settings(atlas_dir=tmp_path))
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(UserInputError, match="damaged"):
        atlas_path(ANNOTS[2], Settings(atlas_dir=tmp_path))


def test_unknown_atlas_name_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown atlas file"):
        atlas_path("nope.annot")


def test_centroid_table_is_checked_by_structure_not_bytes(tmp_path):
    (tmp_path / CENTROIDS_CSV).write_bytes((PACKAGED_DIR / CENTROIDS_CSV).read_bytes().replace(b"\n", b"\r\n"))
    path = atlas_path(CENTROIDS_CSV, Settings(atlas_dir=tmp_path))
    names, coords = read_centroids(path)
    assert len(names) == 1000 and coords.shape == (1000, 3)


def test_spaces_load_with_the_network_blocked(tmp_path):
    # A fresh process with no NFORGE_ATLAS_DIR and sockets refused: both spaces load from the package.
    code = ("import socket\n"
            "def refuse(*a, **k):\n    raise OSError('network blocked')\n"
            "socket.socket.connect = refuse\nsocket.getaddrinfo = refuse\n"
            "from nforge_app.spaces import get_space\n"
            "print(get_space('fsaverage5').n_outputs, get_space('schaefer1000').n_outputs)\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "NFORGE_ATLAS_DIR"}
    env["NFORGE_CACHE_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["20484", "1000"]


def test_centroid_table_structure():
    names, coords = read_centroids(SHARED / CENTROIDS_CSV)
    assert names[0] == "7Networks_LH_Vis_1" and names[500].startswith("7Networks_RH_")
    assert all(n.startswith("7Networks_LH_") for n in names[:500])
    assert all(n.startswith("7Networks_RH_") for n in names[500:])
    assert coords.dtype == np.float64 and np.array_equal(coords, np.round(coords))
    assert (coords[:500, 0] < 0).all() and (coords[500:, 0] > 0).all()  # RAS: left is negative x


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda lines: ["ROI,Name,R,A,S"] + lines[1:], "header"),
    (lambda lines: lines[:-1], "999 rows"),
    (lambda lines: lines[:5] + [",".join(lines[5].split(",")[:4] + ["1.5"])] + lines[6:], "not an integer"),
    (lambda lines: lines[:1] + [lines[2], lines[1]] + lines[3:], "labels"),
    (lambda lines: lines[:1] + [lines[1] + ",7"] + lines[2:], "columns"),
])
def test_bad_centroid_tables_are_refused(tmp_path, edit, problem):
    lines = (SHARED / CENTROIDS_CSV).read_text().splitlines()
    bad = tmp_path / CENTROIDS_CSV
    bad.write_text("\n".join(edit(lines)) + "\n")
    with pytest.raises(UserInputError, match=problem):
        read_centroids(bad)
