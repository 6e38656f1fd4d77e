"""A folder of six generated stimuli and a damaged file, and what `nforge predict` makes of each, one by one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nforge_app.cli import main

from _media import ffmpeg, make_audio, make_video

SECONDS = 6.0
CUES = "".join(f"{i + 1}\n00:00:0{i},000 --> 00:00:0{i},800\n{word}\n\n"
               for i, word in enumerate(["the", "fox", "runs", "over", "the", "hill"]))
GOOD = ("clip_a.mp4", "clip_b.mp4", "clip_c.mkv", "sub/clip_d.mp4", "tone.mp3", "voice.wav")
BAD = "sub/broken.mp4"


@pytest.fixture(scope="session")
def stimuli(tmp_path_factory) -> Path:
    """Six stimuli (videos with speech, a tone or no sound, audio; one with a transcript beside it, one in a
    sub-folder) and a file that is no video."""
    folder = tmp_path_factory.mktemp("stimuli")
    (folder / "sub").mkdir()
    make_video(folder / "clip_a.mp4", SECONDS, text="the fox runs over the hill")
    (folder / "clip_a.srt").write_text(CUES, encoding="utf-8")
    make_video(folder / "clip_b.mp4", SECONDS, audio="tone")
    make_video(folder / "clip_c.mkv", SECONDS, audio=None)
    make_video(folder / "sub" / "clip_d.mp4", SECONDS, text="a boat drifts across the lake")
    make_audio(folder / "tone.mp3", SECONDS)
    make_audio(folder / "voice.wav", SECONDS, text="children laugh on the shore")
    (folder / BAD).write_bytes(b"this is not a video " * 50)
    return folder


def remuxed(stimuli: Path, folder: Path, tag: str) -> Path:
    """A copy of ``stimuli`` whose media files carry the tag ``tag`` in their container: the same streams, so
    the same predictions, but other bytes, so other content hashes (nothing of them is in a cache)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(stimuli.rglob("*")):
        target = folder / path.relative_to(stimuli)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.suffix in (".mp4", ".mkv", ".mp3", ".wav") and path.name != "broken.mp4":
            ffmpeg("-i", str(path), "-map", "0", "-c", "copy", "-metadata", f"comment={tag}", str(target))
        else:
            shutil.copyfile(path, target)
    return folder


@pytest.fixture(scope="session")
def good_stimuli(stimuli, tmp_path_factory) -> Path:
    """The six good stimuli alone (and the transcript)."""
    folder = tmp_path_factory.mktemp("good")
    shutil.copytree(stimuli, folder, dirs_exist_ok=True)
    (folder / BAD).unlink()
    return folder


@pytest.fixture(scope="session")
def reference(stimuli, tmp_path_factory) -> dict[str, Path]:
    """``nforge predict`` of each good stimulus, one call each, with a cache of its own: ``{id: npz}``."""
    out = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NFORGE_CACHE_DIR", str(out / "cache"))
        for name in GOOD:
            target = out / (name.replace("/", "_") + ".npz")
            assert main(["predict", str(stimuli / name), "--out", str(target), "--quiet"]) == 0
    return {name: out / (name.replace("/", "_") + ".npz") for name in GOOD}


def npz_content(path) -> dict:
    """Every array of an npz, and its metadata parsed."""
    with np.load(path, allow_pickle=False) as npz:
        content = {key: npz[key] for key in npz.files}
    content["metadata_json"] = json.loads(str(content["metadata_json"]))
    return content


def assert_same_npz(path, expected) -> None:
    """The npz at ``path`` holds exactly what ``expected`` holds."""
    got, want = npz_content(path), npz_content(expected)
    assert sorted(got) == sorted(want)
    assert got["metadata_json"] == want["metadata_json"]
    for key in want:
        if key != "metadata_json":
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def outputs(folder: Path) -> list[Path]:
    """The predictions in a batch's output folder (temporary files left out)."""
    return sorted(path for path in folder.glob("*.npz") if not path.name.startswith("."))
