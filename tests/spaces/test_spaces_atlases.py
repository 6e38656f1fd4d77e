"""Atlas files: manifest, checksums, the local folder, the download path (offline) and the centroid table."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from nforge_app._files import file_sha256
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.spaces import atlas_manifest, atlas_path, read_centroids
from nforge_app.spaces._atlases import CENTROIDS_CSV, STRUCTURE_CHECKED

SHARED = Path(__file__).resolve().parents[3] / "shared" / "atlases"
ANNOTS = ["fsa5_lh_glasser_360.annot", "fsa5_rh_glasser_360.annot", "fsa5_lh_schaefer_1000.annot",
          "fsa5_rh_schaefer_1000.annot"]


@pytest.fixture
def served(monkeypatch):
    """Serve the shared atlas files in place of the network; count the requests; allow corruption."""
    state = {"calls": [], "corrupt": set(), "fail": False, "crlf": False}

    def fake_urlopen(url, timeout=None):
        state["calls"].append(url)
        if state["fail"]:
            raise urllib.error.URLError("no route to host")
        name = url.rsplit("/", 1)[1]
        data = (SHARED / name).read_bytes()
        if name in state["corrupt"]:
            data = data[:-10] + b"0123456789"
        if state["crlf"] and name == CENTROIDS_CSV:
            data = data.replace(b"\n", b"\r\n")
        return io.BytesIO(data)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return state


def test_manifest_lists_every_file_with_source_licence_and_checksum():
    manifest = atlas_manifest()
    assert sorted(manifest) == sorted(ANNOTS + [CENTROIDS_CSV])
    for name, entry in manifest.items():
        assert entry["url"].startswith("https://raw.githubusercontent.com/") and entry["url"].endswith("/" + name)
        assert entry["licence"]
    assert manifest[CENTROIDS_CSV]["sha256"] == STRUCTURE_CHECKED
    assert "d66a7ef320a913f9441bf1089b44f1dad11e5724" in manifest[ANNOTS[0]]["url"]
    assert "d1454a611f7de10a3b36665e6fbb3fb6c770d140" in manifest[CENTROIDS_CSV]["url"]


@pytest.mark.parametrize("name", ANNOTS)
def test_annot_checksums_match_the_shared_copies(name):
    assert file_sha256(SHARED / name) == atlas_manifest()[name]["sha256"]


def test_atlas_dir_is_used_without_download(served):
    path = atlas_path(ANNOTS[0], Settings(atlas_dir=SHARED))
    assert path == SHARED / ANNOTS[0]
    assert served["calls"] == []


def test_atlas_dir_missing_file_names_folder_and_file(tmp_path, served):
    with pytest.raises(UserInputError, match=f"{tmp_path}.*{ANNOTS[1]}"):
        atlas_path(ANNOTS[1], Settings(atlas_dir=tmp_path))
    assert served["calls"] == []


def test_atlas_dir_file_is_still_checked(tmp_path):
    (tmp_path / ANNOTS[0]).write_bytes(b"not an annot")
    with pytest.raises(UserInputError, match="sha256"):
        atlas_path(ANNOTS[0], Settings(atlas_dir=tmp_path))


def test_unknown_atlas_name_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown atlas file"):
        atlas_path("nope.annot", Settings(atlas_dir=SHARED))


def test_download_once_into_the_cache(tmp_path, served):
    settings = Settings(cache_dir=tmp_path)
    path = atlas_path(ANNOTS[2], settings)
    assert path == tmp_path / "atlases" / ANNOTS[2]
    assert file_sha256(path) == atlas_manifest()[ANNOTS[2]]["sha256"]
    assert atlas_path(ANNOTS[2], settings) == path
    assert len(served["calls"]) == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [ANNOTS[2]]


def test_corrupt_download_leaves_nothing_in_the_cache(tmp_path, served):
    served["corrupt"].add(ANNOTS[0])
    with pytest.raises(UserInputError, match="sha256"):
        atlas_path(ANNOTS[0], Settings(cache_dir=tmp_path))
    assert list((tmp_path / "atlases").iterdir()) == []


def test_damaged_cached_copy_is_fetched_again(tmp_path, served):
    cached = tmp_path / "atlases" / ANNOTS[3]
    cached.parent.mkdir()
    cached.write_bytes(b"truncated")
    path = atlas_path(ANNOTS[3], Settings(cache_dir=tmp_path))
    assert file_sha256(path) == atlas_manifest()[ANNOTS[3]]["sha256"]
    assert len(served["calls"]) == 1


def test_no_network_says_to_set_the_atlas_dir(tmp_path, served):
    served["fail"] = True
    with pytest.raises(UserInputError, match="NFORGE_ATLAS_DIR"):
        atlas_path(ANNOTS[0], Settings(cache_dir=tmp_path))
    assert list((tmp_path / "atlases").iterdir()) == []


def test_centroid_table_download_is_checked_by_structure(tmp_path, served):
    served["crlf"] = True  # other bytes than the shared copy, same content
    path = atlas_path(CENTROIDS_CSV, Settings(cache_dir=tmp_path))
    assert b"\r\n" in path.read_bytes()
    names, coords = read_centroids(path)
    assert len(names) == 1000 and coords.shape == (1000, 3)


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
