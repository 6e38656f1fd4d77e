"""export_prediction, and every face exporting through it: the page, the Python API and `nforge export` write
the same files for the same prediction (real ffmpeg for MP4, Pillow for GIF, nibabel for GIfTI)."""

import csv
import json
import re
import stat

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from nforge_app.cli import main
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.export import EXPORT_FORMATS, export_prediction, load_npz, save_npz
from nforge_app.models import Prediction
from nforge_app.spaces import get_space
from nforge_app.ui._service import AppService
from nforge_app.viz import picture_title, prediction_frames, value_unit

from _media import FFMPEG, make_video

N_STEPS = 4
EVERY_FORMAT = list(EXPORT_FORMATS)


def _surface_prediction(source="clip.mp4") -> Prediction:
    indices = get_space("fsaverage5").select(["V1", "A1"])
    data = np.random.default_rng(0).standard_normal((N_STEPS, len(indices))).astype(np.float32)
    return Prediction(data=data, times_s=np.arange(N_STEPS, dtype=float), tr_s=1.0, space_id="fsaverage5",
                      indices=indices, model_id="nforge-lite", subject="average", hrf_offset_s=0.0, time_axis="bold",
                      metadata={"baseline": True, "stimulus": {"source": source, "kind": "video"}})


def _parcel_prediction() -> Prediction:
    data = np.random.default_rng(1).standard_normal((N_STEPS, 1000)).astype(np.float32)
    return Prediction(data=data, times_s=np.arange(N_STEPS) * 1.49, tr_s=1.49, space_id="schaefer1000",
                      indices=np.arange(1000), model_id="text2fmri", subject="1", hrf_offset_s=0.0, time_axis="bold",
                      metadata={"stimulus": {"source": "<per-TR text>", "kind": "tr_text"}})


def _ffmpeg_info(path) -> str:
    import subprocess

    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("stimulus") / "clip.mp4", float(N_STEPS), audio="tone")


def test_every_format_from_one_base(tmp_path, clip):
    prediction = _surface_prediction()
    files, notes = export_prediction(prediction, EVERY_FORMAT, tmp_path / "out" / "clip.nforge-lite", roi=["V1"],
                                     size_px=160, audio_path=clip, video_fps=25)
    assert [path.name for path in files] == [
        "clip.nforge-lite.npz", "clip.nforge-lite.gif", "clip.nforge-lite.mp4", "clip.nforge-lite_hemi-L.func.gii",
        "clip.nforge-lite_hemi-R.func.gii", "clip.nforge-lite.csv", "clip.nforge-lite.json"] and notes == []
    np.testing.assert_array_equal(load_npz(files[0]).data, prediction.data)
    with Image.open(files[1]) as gif:
        assert gif.n_frames == N_STEPS and gif.info["duration"] == 1000
    info = _ffmpeg_info(files[2])
    assert re.search(r"Video: h264.*yuv420p", info) and "Audio: aac" in info and "Duration: 00:00:04.0" in info
    assert len(nib.load(files[3]).darrays) == N_STEPS
    with open(files[5], newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["time_s", "V1"] and len(rows) == N_STEPS + 1
    facts = json.loads(files[6].read_text())
    assert facts["roi_asked"] == ["V1"] and facts["unit"] == "z-scored predicted BOLD"
    assert facts["time_label"] == "BOLD time (s), haemodynamic delay included"


def test_exports_get_the_permissions_of_any_file_the_user_writes(tmp_path):
    # the atomic writes start from owner-only temporary files; the exports end as open() would make them
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    files, _ = export_prediction(_surface_prediction(), ["npz", "csv", "json"], tmp_path / "clip.nforge-lite")
    modes = {path.suffix: stat.S_IMODE(path.stat().st_mode) for path in files}
    assert modes == dict.fromkeys((".npz", ".csv", ".json"), stat.S_IMODE(plain.stat().st_mode)), modes


def test_several_formats_note_what_cannot_be_written_and_one_format_raises(tmp_path):
    prediction = _parcel_prediction()
    files, notes = export_prediction(prediction, ["gifti", "csv", "mp4"], tmp_path / "p", size_px=160,
                                     picture="glass", audio_note="per-TR text has no sound; the video is silent")
    assert [path.name for path in files] == ["p.csv", "p.mp4"]
    assert notes[0].startswith("gifti: GIfTI export holds values per surface vertex")
    assert notes[1] == "mp4: per-TR text has no sound; the video is silent"
    with pytest.raises(UserInputError, match="GIfTI"):
        export_prediction(prediction, ["gifti"], tmp_path / "q")
    sound = tmp_path / "p.mp4"
    before = sound.read_bytes()
    with pytest.raises(UserInputError, match="would replace its own sound file"):
        export_prediction(prediction, ["mp4"], tmp_path / "p", picture="glass", audio_path=sound)
    assert sound.read_bytes() == before


@pytest.mark.parametrize(("options", "match"), [
    ({"formats": ["gif", "docx"]}, r"export formats: unknown: 'docx'; accepted: npz, gif, mp4, gifti, csv, json"),
    ({"formats": []}, "export formats: none given; accepted"),
    ({"picture": "flat"}, "unknown picture 'flat'; accepted: surface, glass"),
    ({"views": ["side"]}, "surface views: unknown: 'side'; accepted: lateral_left"),
    ({"picture": "glass", "views": "lq"}, "glass brain views.*unknown: 'q'"),
    ({"surface": "flat"}, "unknown surface 'flat'; accepted: pial, half-inflated, inflated"),
    ({"color_scale": "rainbow"}, "unknown colour scale 'rainbow'; accepted: symmetric, one-sided"),
    ({"threshold_pct": 150}, r"threshold \(% of the robust maximum\) 150: accepted: a number from 0 to 100"),
    ({"size_px": 10}, "size_px 10: accepted: a whole number from 64 to 4096"),
])
def test_bad_options_are_refused_before_anything_is_written(tmp_path, options, match):
    options = {"formats": ["npz", "gif"], **options}
    with pytest.raises(UserInputError, match=match):
        export_prediction(_surface_prediction(), options.pop("formats"), tmp_path / "x", **options)
    assert not list(tmp_path.iterdir())


def test_pictures_carry_the_unit_the_title_and_the_time_axis():
    surface, parcels = _surface_prediction(), _parcel_prediction()
    assert value_unit(surface) == "z-scored predicted BOLD" and value_unit(parcels) == "predicted BOLD (a.u.)"
    own = Prediction(**{**parcels.__dict__, "metadata": {"unit": "% signal change"}})
    assert value_unit(own) == "% signal change"
    assert picture_title(surface) == "clip · nforge-lite (baseline)"
    assert picture_title(parcels) == "per-TR text · text2fmri"
    frames = prediction_frames(parcels, picture="glass", size_px=160)
    assert len(frames) == N_STEPS and len({frame.size for frame in frames}) == 1


def test_every_face_exports_the_same_files(tmp_path, clip, monkeypatch, capsys):
    """The page (by prediction id), the Python API and `nforge export` write byte-identical files."""
    prediction = _surface_prediction()
    roi = ["V1", "A1"]
    options = {"picture": "surface", "views": ["lateral_left", "dorsal"], "surface": "inflated",
               "color_scale": "one-sided", "threshold_pct": 10.0, "size_px": 160}
    formats = ["npz", "gif", "gifti", "csv", "json", "mp4"]

    service = AppService(settings=Settings.from_env(cache_dir=tmp_path / "cache"))
    kept = service.keep(prediction, roi, str(clip), title="clip")
    page_files, page_notes = service.export(kept.prediction_id, formats, **options)

    api_files, api_notes = export_prediction(prediction, formats, tmp_path / "api" / "clip.nforge-lite", roi=roi,
                                             audio_path=clip, video_fps=25.0, **options)

    npz = tmp_path / "cli" / "clip.nforge-lite.npz"
    save_npz(prediction, npz)
    code = main(["export", str(npz), "--format", *formats, "--picture", "surface", "--view", "lateral_left", "dorsal",
                 "--colors", "one-sided", "--threshold", "10", "--size", "160", "--roi", *roi, "--audio", str(clip),
                 "--out", str(tmp_path / "cli") + "/"])
    out = capsys.readouterr().out
    cli_files = [tmp_path / "cli" / line.removeprefix("wrote: ").rsplit("/", 1)[1]
                 for line in out.splitlines() if line.startswith("wrote: ")]
    assert code == 0 and page_notes == api_notes == []

    names = [path.name for path in api_files]
    assert [path.name for path in page_files] == names == [path.name for path in cli_files]
    assert names == ["clip.nforge-lite.npz", "clip.nforge-lite.gif", "clip.nforge-lite_hemi-L.func.gii",
                     "clip.nforge-lite_hemi-R.func.gii", "clip.nforge-lite.csv", "clip.nforge-lite.json",
                     "clip.nforge-lite.mp4"]
    for page_file, api_file, cli_file in zip(page_files, api_files, cli_files, strict=True):
        if page_file.suffix == ".npz":  # zip entries carry the time they were written
            for other in (api_file, cli_file):
                np.testing.assert_array_equal(load_npz(other).data, load_npz(page_file).data)
        elif page_file.suffix == ".mp4":  # the same streams, frames and sound
            infos = [re.sub(r"Input #0, .*|  Metadata:\n(    .*\n)*", "", _ffmpeg_info(path))
                     for path in (page_file, api_file, cli_file)]
            assert infos[0] == infos[1] == infos[2] and "Audio: aac" in infos[0], infos
        else:
            assert page_file.read_bytes() == api_file.read_bytes() == cli_file.read_bytes(), page_file.name


def test_the_api_glass_brain_animation_goes_through_the_same_export(tmp_path, monkeypatch):
    from nforge_app import api

    monkeypatch.chdir(tmp_path)
    model = api.get_encoding_model("nforge-lite", selection={"roi": ["V1"]})
    responses = np.random.default_rng(2).standard_normal((3, len(model.selection))).astype(np.float32)
    path = model.generate_glass_brain_animation(responses, out_path="anim")
    assert path == "anim.gif"
    with Image.open(tmp_path / path) as gif:
        assert gif.n_frames == 3 and gif.info["duration"] == 1000
        gif.seek(1)
        frame = np.asarray(gif.convert("RGB"))
    expected = prediction_frames(
        Prediction(data=responses, times_s=np.arange(3.0), tr_s=1.0, space_id="fsaverage5", indices=model.selection,
                   model_id="nforge-lite", subject="average", hrf_offset_s=0.0, time_axis="bold",
                   metadata={"baseline": True}), picture="glass", title="responses · nforge-lite (baseline)")[1]
    assert np.abs(frame.astype(int) - np.asarray(expected, dtype=int)).mean() < 3  # GIF palette rounding
