"""The hostile-input corpus: every case is made here, by code (nothing downloaded), once per test session.

A :class:`Case` says what to give (a stimulus file, per-TR lines, request arguments, a mask, measured data, a
saved prediction or a model release), which faces take it, and the message class that must come back (a
regular expression over the user-facing message). ``CASES.md`` beside this file lists them all; a test checks
that the table and this module agree.

Settings of the corpus (:data:`ENV`) are small limits, so that over-limit cases are cheap to make.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _media import ffmpeg, make_audio, make_video  # noqa: E402

ENV = {"NFORGE_MAX_DURATION_S": "60", "NFORGE_MAX_FILE_MB": "20", "NFORGE_MAX_TEXT_CHARS": "50000",
       "NFORGE_MAX_TRS": "2000", "NFORGE_MAX_ROIS": "20"}
"""The limits the corpus runs under (environment variables, read by every face)."""
LIMITS = {"max_duration_s": 60.0, "max_file_mb": 20.0, "max_text_chars": 50_000, "max_trs": 2000, "max_rois": 20}
"""The same limits as ``Settings`` fields."""
N_OUTPUTS = 20484  # nforge-lite predicts fsaverage5 vertices
PLANTED = "nforge-hostile-payload-ran"
"""A file that the code planted in a config or checkpoint would create: it must never exist."""

# Message classes (the table in CASES.md uses these names).
DAMAGED = r"could not be read|damaged|truncated|not a media file|could not be decoded|cannot be decoded"
EMPTY = r"is empty \(0 bytes\)"
OVER_LIMIT = r"more than the limit of .* \(setting \w+, environment variable NFORGE_\w+\)"
NOT_TEXT = r"not UTF-8 text|is binary, not text"
BAD_TRANSCRIPT = r"\.(srt|vtt|tsv)\b.*(time|cue|column|header|line)"
UNKNOWN_NAME = r"unknown|not one of|accepted"
BAD_MASK = r"mask"
BAD_MEASURED = r"NaN or infinite|outputs|measured data must|zip bomb|cannot read"
REFUSED_CODE = r"refused|pickled Python objects|never runs code|nothing that could run code"
NOT_ACCEPTED = r"are not accepted; accepted:"
GRADIO_FILE_TYPE = r"Invalid file type"
GRADIO_CHOICE = UNKNOWN_NAME + r"|not in the list of choices"
ACCEPTED = r"^accepted$"
"""The case is no error: the face must give a correct result (cover art, tiny frames, a short clip)."""


@dataclass(frozen=True)
class Case:
    """One hostile input.

    Attributes
    ----------
    name : str
        Short id (test ids, CASES.md).
    kind : str
        ``file`` (a stimulus file), ``per_tr`` (lines of per-TR text), ``request`` (model, subject, regions),
        ``adapt`` (a subject to fit, named with ``../``), ``attribute`` (attribution options), ``export`` (export options), ``explain`` (the page's Explain of a prediction id),
        ``delete`` (a subject name to delete from the adapted subjects' store), ``mask`` (a .npy mask), ``measured`` (measured fMRI), ``saved`` (a saved prediction .npz) or
        ``release`` (a TRIBE v2 release folder given as ``--variant``).
    build : callable
        ``build(folder) -> dict`` writes what the case needs under ``folder`` and returns its inputs.
    expect : str
        Regular expression the message must match (:data:`ACCEPTED`: no error, a correct result).
    message_class : str
        The class of the message, for the table.
    faces : tuple of str
        The faces that take this kind of input (``cli``, ``api``, ``page``).
    """

    name: str
    kind: str
    build: Callable[[Path], dict]
    expect: str
    message_class: str
    faces: tuple[str, ...] = ("cli", "api", "page")
    page_expect: str | None = None
    """What the page says when it differs (gradio refuses some inputs itself: file types, dropdown values)."""

    @property
    def accepted(self) -> bool:
        return self.expect == ACCEPTED


# -- media ----------------------------------------------------------------------------------------------------
def _clip(folder: Path) -> Path:
    """A 3-s 160x120 video with a tone, shared by the cases that damage one."""
    path = folder.parent / "_clip.mp4"
    if not path.exists():
        make_video(path, 3.0, audio="tone")
    return path


def _write(folder: Path, name: str, data: bytes) -> dict:
    path = folder / name
    path.write_bytes(data)
    return {"path": path}


def _truncated(folder: Path) -> dict:
    data = _clip(folder).read_bytes()
    return _write(folder, "truncated.mp4", data[: len(data) // 2])


def _header_only(folder: Path) -> dict:
    data = _clip(folder).read_bytes()
    return _write(folder, "header_only.mp4", data[:64])


def _twenty_hours(folder: Path) -> dict:
    """A Matroska video whose segment header claims 20 hours (its samples last 3 s)."""
    path = folder / "_short.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=3", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", "-an", str(path))
    data = bytearray(path.read_bytes())
    at = data.find(b"\x44\x89\x88")  # the Segment Info's Duration element: an 8-byte float, in milliseconds
    data[at + 3: at + 11] = struct.pack(">d", 20 * 3600 * 1000.0)
    return _write(folder, "twenty_hours.mkv", bytes(data))


def _broken_audio(folder: Path) -> dict:
    """A video whose AAC audio packets are noise (the ``noise`` bitstream filter), the video intact."""
    path = folder / "broken_audio.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=3", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=22050:duration=3", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-bsf:a", "noise=amount=1", "-shortest", str(path))
    return {"path": path}


def _cover_art(folder: Path) -> dict:
    """An MP3 with an attached picture (cover art): audio, not a video."""
    sound = make_audio(folder / "_tone.mp3", 3.0)
    picture = folder / "_cover.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64:duration=0.04", "-frames:v", "1", str(picture))
    path = folder / "cover_art.mp3"
    ffmpeg("-i", str(sound), "-i", str(picture), "-map", "0:a", "-map", "1:v", "-c:a", "copy", "-c:v", "png",
           "-disposition:v", "attached_pic", str(path))
    return {"path": path, "modalities": ("audio",)}


def _one_pixel(folder: Path) -> dict:
    path = folder / "one_pixel.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=2x2:rate=10:duration=2", "-vf", "scale=1:1", "-c:v", "ffv1",
           "-an", str(path))
    return {"path": path, "modalities": ("video",)}


def _huge_frame(folder: Path) -> dict:
    path = folder / "huge_frame.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=8000x8000:rate=2:duration=1", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", "-an", str(path))
    return {"path": path}


def _short(folder: Path) -> dict:
    return {"path": make_video(folder / "short.mp4", 0.1, audio="tone"), "modalities": ("video", "audio")}


def _over_duration(folder: Path) -> dict:
    path = folder / "over_duration.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "61", "-c:a", "pcm_u8", str(path))
    return {"path": path}


def _wav_header_only(folder: Path) -> dict:
    path = folder / "_silence.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "1", "-c:a", "pcm_u8", str(path))
    return _write(folder, "no_samples.wav", path.read_bytes()[:44])


def _symlink_passwd(folder: Path) -> dict:
    path = folder / "passwd.mp4"
    path.symlink_to("/etc/passwd")
    return {"path": path}


def _victim(folder: Path) -> dict:
    """A folder outside the subject store that ``../`` in a subject's name would reach."""
    victim = folder / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    return {"name": f"../../../../../../../../{victim.relative_to('/')}", "victim": victim}


# -- text -----------------------------------------------------------------------------------------------------
def _text(name: str, data: bytes | str) -> Callable[[Path], dict]:
    def build(folder: Path) -> dict:
        return _write(folder, name, data.encode("utf-8") if isinstance(data, str) else data)

    build.__name__ = f"_text_{name}"
    return build


def _ten_mb_text(folder: Path) -> dict:
    return _write(folder, "ten_mb.txt", b"the ship left the harbour at dawn. " * 300_000)


def _lines(lines: list[str]) -> Callable[[Path], dict]:
    def build(folder: Path) -> dict:
        path = folder / f"lines_{len(lines)}.txt"
        path.write_text("\n".join(lines), encoding="utf-8")
        return {"lines": lines, "path": path}

    return build


def _srt(*cues: tuple[str, str, str]) -> str:
    return "\n".join(f"{i}\n{start} --> {end}\n{text}\n" for i, (start, end, text) in enumerate(cues, 1))


# -- arrays ---------------------------------------------------------------------------------------------------
def _mask(values: np.ndarray, name: str) -> Callable[[Path], dict]:
    def build(folder: Path) -> dict:
        path = folder / f"{name}.npy"
        np.save(path, values, allow_pickle=True)
        return {"path": path, "mask": values}

    return build


def _measured(make: Callable[[], np.ndarray], name: str) -> Callable[[Path], dict]:
    def build(folder: Path) -> dict:
        path = folder / f"{name}.npz"
        np.savez(path, data=make(), tr_s=1.0)
        return {"path": path}

    return build


def zip_bomb(path: Path, shape: tuple[int, int] = (12_500, N_OUTPUTS), member: str = "data.npy") -> Path:
    """An .npz of a few MB whose ``member`` inflates to ``shape`` float32 zeros (1 GB by default)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    n_bytes = int(np.prod(shape)) * 4
    chunk = bytes(1 << 24)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=1) as archive, \
            archive.open(member, "w", force_zip64=True) as out:
        out.write(header.getvalue())
        for start in range(0, n_bytes, len(chunk)):
            out.write(chunk[: min(len(chunk), n_bytes - start)])
    return path


def _zip_bomb(name: str, extra: dict | None = None, member: str = "data.npy") -> Callable[[Path], dict]:
    def build(folder: Path) -> dict:
        path = zip_bomb(folder / f"{name}.npz", member=member)
        if extra:
            with zipfile.ZipFile(path, "a") as archive:
                for key, value in extra.items():
                    buffer = io.BytesIO()
                    np.save(buffer, value)
                    archive.writestr(f"{key}.npy", buffer.getvalue())
        return {"path": path}

    return build


def _h5_bomb(folder: Path) -> dict:
    """An HDF5 run whose gzip-compressed dataset declares 4.1 GB and stores nothing (its fill value is read)."""
    import h5py

    path = folder / "bomb_run.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("s01e01a", shape=(50_000, N_OUTPUTS), dtype="f4", chunks=(100, 1024),
                              compression="gzip")
    return {"path": path}


def _gifti_bomb(folder: Path) -> dict:
    """A left-hemisphere .func.gii whose one gzip-compressed array inflates to 1 GB of zeros."""
    import base64

    n_times, n_vertices = 26_000, 10_242
    packer = zlib.compressobj(1)
    chunk = bytes(4 * n_vertices * 100)
    data = b"".join(packer.compress(chunk) for _ in range(n_times // 100)) + packer.flush()
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<GIFTI Version="1.0" NumberOfDataArrays="1"><MetaData/>'
           f'<LabelTable/><DataArray Intent="NIFTI_INTENT_NONE" DataType="NIFTI_TYPE_FLOAT32" '
           f'ArrayIndexingOrder="RowMajorOrder" Dimensionality="2" Dim0="{n_vertices}" Dim1="{n_times}" '
           f'Encoding="GZipBase64Binary" Endian="LittleEndian" ExternalFileName="" ExternalFileOffset="">'
           f'<MetaData/><Data>{base64.b64encode(data).decode()}</Data></DataArray></GIFTI>\n')
    path = folder / "bomb_run_hemi-L.func.gii"
    path.write_text(xml)
    return {"path": path}


class _Payload:
    """Pickled, it would run ``open(path, "w")`` when loaded: the proof that a loader ran code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def planted_path(folder: Path) -> Path:
    """Where a payload of ``folder``'s cases would write."""
    return folder / PLANTED


def _pickled_npz(folder: Path) -> dict:
    path = folder / "pickled_prediction.npz"
    np.savez(path, data=np.array([_Payload(planted_path(folder))], dtype=object), times_s=np.zeros(1))
    return {"path": path}


def _pickled_mask(folder: Path) -> dict:
    path = folder / "pickled_mask.npy"
    np.save(path, np.array([_Payload(planted_path(folder))], dtype=object), allow_pickle=True)
    return {"path": path, "mask": None}


def _release(config_text: str | None = None, checkpoint_extra: bool = False) -> Callable[[Path], dict]:
    def build(folder: Path) -> dict:
        import torch

        from _releases import SMALL_BUILD_ARGS, small_config

        release = folder / ("release_yaml" if config_text else "release_ckpt")
        release.mkdir()
        text = small_config() if config_text is None else config_text.format(planted=planted_path(folder))
        (release / "config.yaml").write_text(text)
        checkpoint = {"state_dict": {}, "model_build_args": SMALL_BUILD_ARGS}
        if checkpoint_extra:
            checkpoint["hook"] = _Payload(planted_path(folder))
        torch.save(checkpoint, release / "best.ckpt")
        return {"variant": release}

    return build


EVIL_YAML = ("brain_model_config: !!python/object/apply:os.system ['touch {planted}']\n"
             "data: !!python/object/apply:builtins.open ['{planted}', 'w']\n")


CASES: tuple[Case, ...] = (
    # stimulus files
    Case("zero_byte_mp4", "file", lambda f: _write(f, "empty.mp4", b""), EMPTY, "empty file"),
    Case("zero_byte_txt", "file", lambda f: _write(f, "empty.txt", b""), EMPTY, "empty file"),
    Case("truncated_mp4", "file", _truncated, DAMAGED, "damaged media"),
    Case("header_only_mp4", "file", _header_only, DAMAGED, "damaged media"),
    Case("text_named_mp4", "file", lambda f: _write(f, "notes.mp4", b"just some notes, not a video\n" * 40),
         DAMAGED, "damaged media"),
    Case("random_bytes_wav", "file", lambda f: _write(f, "noise.wav", np.random.default_rng(0).bytes(50_000)),
         DAMAGED, "damaged media"),
    Case("wav_without_samples", "file", _wav_header_only, DAMAGED, "damaged media"),
    Case("header_claims_20_hours", "file", _twenty_hours, OVER_LIMIT, "over a limit"),
    Case("broken_audio_stream", "file", _broken_audio, DAMAGED, "damaged media"),
    Case("cover_art_audio", "file", _cover_art, ACCEPTED, "accepted (audio only; the picture is ignored)"),
    Case("one_by_one_video", "file", _one_pixel, ACCEPTED, "accepted"),
    Case("video_8000x8000", "file", _huge_frame, ACCEPTED, "accepted (frames scaled down by ffmpeg)"),
    Case("clip_of_0_1_s", "file", _short, ACCEPTED, "accepted"),
    Case("over_duration_audio", "file", _over_duration, OVER_LIMIT, "over a limit"),
    Case("unknown_extension", "file", lambda f: _write(f, "clip.xyz", b"data"), NOT_ACCEPTED, "not accepted",
         page_expect=GRADIO_FILE_TYPE),
    Case("no_extension", "file", lambda f: _write(f, "clip", b"data"), NOT_ACCEPTED, "not accepted",
         page_expect=GRADIO_FILE_TYPE),
    Case("symlink_to_etc_passwd", "file", _symlink_passwd, DAMAGED, "damaged media (nothing of the target is shown)"),
    Case("latin1_text", "file", _text("latin1.txt", "Caf\xe9 cr\xe8me".encode("latin-1") * 10), NOT_TEXT,
         "not text"),
    Case("binary_text", "file", _text("binary.txt", bytes(range(256)) * 20), NOT_TEXT, "not text"),
    Case("ten_mb_text", "file", _ten_mb_text, OVER_LIMIT, "over a limit"),
    Case("whitespace_text", "file", _text("blank.txt", " \n\t\n  "), r"holds no text", "no words"),
    Case("symbols_text", "file", _text("symbols.txt", "... !!! ??? ---"), r"holds no words", "no words"),
    Case("utf16_text", "file", _text("utf16.txt", "hello there".encode("utf-16")), NOT_TEXT, "not text"),
    Case("srt_negative_times", "file", _text("negative.srt", _srt(("-00:00:02,000", "00:00:01,000", "hello"))),
         BAD_TRANSCRIPT, "bad transcript"),
    Case("srt_end_before_start", "file", _text("backwards.srt", _srt(("00:00:05,000", "00:00:01,000", "hello"))),
         BAD_TRANSCRIPT, "bad transcript"),
    Case("srt_overlapping", "file", _text("overlap.srt", _srt(("00:00:01,000", "00:00:04,000", "one two"),
                                                              ("00:00:02,000", "00:00:03,000", "three"))),
         ACCEPTED, "accepted (cues may overlap; words keep their times)"),
    Case("srt_unordered", "file", _text("unordered.srt", _srt(("00:00:05,000", "00:00:06,000", "later"),
                                                              ("00:00:01,000", "00:00:02,000", "first"))),
         ACCEPTED, "accepted (words put in time order)"),
    Case("srt_garbage_times", "file", _text("garbage.srt", "1\nyesterday --> tomorrow\nhello\n"),
         BAD_TRANSCRIPT, "bad transcript"),
    Case("srt_over_duration", "file", _text("long.srt", _srt(("00:00:01,000", "05:00:00,000", "hello"))),
         OVER_LIMIT, "over a limit"),
    Case("vtt_without_header", "file", _text("plain.vtt", "00:00:01.000 --> 00:00:02.000\nhello\n"),
         BAD_TRANSCRIPT, "bad transcript"),
    Case("tsv_without_columns", "file", _text("words.tsv", "a\tb\nc\td\n"), BAD_TRANSCRIPT, "bad transcript"),
    # per-TR text
    Case("per_tr_100000_lines", "per_tr", _lines(["a word"] * 100_000), OVER_LIMIT, "over a limit"),
    Case("per_tr_no_words", "per_tr", _lines(["...", "", "!!"]), r"holds no words", "no words"),
    Case("per_tr_one_huge_line", "per_tr", _lines(["word " * 20_000]), OVER_LIMIT, "over a limit"),
    # request names
    Case("unknown_model", "request", lambda f: {"model": "no-such-model"}, UNKNOWN_NAME, "unknown name", page_expect=GRADIO_CHOICE),
    Case("model_with_dotdot", "request", lambda f: {"model": "../../etc/passwd"}, UNKNOWN_NAME, "unknown name", page_expect=GRADIO_CHOICE),
    Case("unknown_roi", "request", lambda f: {"roi": ["NoSuchRegion"]}, UNKNOWN_NAME, "unknown name"),
    Case("too_many_rois", "request", lambda f: {"roi": [f"V{i}" for i in range(1, 30)]}, OVER_LIMIT,
         "over a limit"),
    Case("unknown_subject", "request", lambda f: {"subject": "sub-99"}, UNKNOWN_NAME, "unknown name", page_expect=GRADIO_CHOICE),
    Case("subject_with_dotdot", "request", lambda f: {"subject": "../../../etc/passwd"}, UNKNOWN_NAME,
         "unknown name", page_expect=GRADIO_CHOICE),
    Case("delete_subject_with_dotdot", "delete", _victim, UNKNOWN_NAME + r"|subject name .*no spaces, dots or "
         r"slashes", "unknown name (nothing outside the store touched)", ("cli", "api")),
    Case("adapt_name_with_dotdot", "adapt", _victim, r"subject name .*no spaces, dots or slashes",
         "unknown name (nothing outside the store touched)", ("cli", "api")),
    # attribution (the page's Explain takes a prediction id only)
    Case("attribution_steps_over", "attribute", lambda f: {"path": _clip(f), "steps": "100000"},
         r"steps .*accepted: a whole number from 2 to 512", "out of range", ("cli", "api")),
    Case("attribution_steps_not_a_number", "attribute", lambda f: {"path": _clip(f), "steps": "many"},
         r"steps .*accepted: a whole number from 2 to 512", "out of range", ("cli", "api")),
    Case("explain_unknown_prediction_id", "explain", lambda f: {"id": "../../etc/passwd"},
         r"unknown prediction id", "unknown name", ("page",)),
    # exports of a prediction (the page's sliders and check boxes refuse what they do not offer)
    Case("export_picture_of_100000_px", "export", lambda f: {"size_px": 100_000}, r"size_px 100000: accepted: a "
         r"whole number from 64 to 4096", "out of range", page_expect=r"greater than maximum value 800"),
    Case("export_unknown_format", "export", lambda f: {"formats": ["../../x"]}, UNKNOWN_NAME, "unknown name",
         page_expect=GRADIO_CHOICE),
    Case("export_view_with_dotdot", "export", lambda f: {"views": ["../etc"]}, UNKNOWN_NAME, "unknown name",
         page_expect=GRADIO_CHOICE),
    Case("export_threshold_nan", "export", lambda f: {"threshold_pct": float("nan")}, r"threshold.*accepted",
         "out of range", ("cli", "api")),
    # masks (the page has no mask input)
    Case("mask_with_nan", "mask", _mask(np.where(np.arange(N_OUTPUTS) < 10, np.nan, 1.0), "nan_mask"), BAD_MASK,
         "bad mask", ("cli", "api")),
    Case("mask_with_inf", "mask", _mask(np.full(N_OUTPUTS, np.inf), "inf_mask"), BAD_MASK, "bad mask",
         ("cli", "api")),
    Case("mask_wrong_length", "mask", _mask(np.ones(100, bool), "short_mask"), BAD_MASK, "bad mask",
         ("cli", "api")),
    Case("mask_selects_nothing", "mask", _mask(np.zeros(N_OUTPUTS, bool), "empty_mask"), BAD_MASK, "bad mask",
         ("cli", "api")),
    Case("mask_not_npy", "mask", lambda f: {**_write(f, "garbage_mask.npy", b"PK\x03\x04 not numpy"),
                                            "mask": None}, r"mask .*not a \.npy file", "bad mask", ("cli",)),
    Case("mask_pickled_code", "mask", _pickled_mask, BAD_MASK, "bad mask (never unpickled)", ("cli", "api")),
    # measured fMRI (evaluate)
    Case("measured_with_nan", "measured", _measured(lambda: np.full((10, N_OUTPUTS), np.nan, np.float32),
                                                    "nan_run"), BAD_MEASURED, "bad measured data"),
    Case("measured_with_inf", "measured", _measured(lambda: np.full((10, N_OUTPUTS), np.inf, np.float32),
                                                    "inf_run"), BAD_MEASURED, "bad measured data"),
    Case("measured_wrong_width", "measured", _measured(lambda: np.ones((10, 7), np.float32), "narrow_run"),
         BAD_MEASURED, "bad measured data"),
    Case("measured_zip_bomb", "measured", _zip_bomb("bomb_run"), BAD_MEASURED, "zip bomb"),
    Case("measured_h5_bomb", "measured", _h5_bomb, r"zip bomb", "zip bomb"),
    Case("measured_gifti_bomb", "measured", _gifti_bomb, r"zip bomb", "zip bomb"),
    # saved predictions (nforge info; the page keeps its own)
    Case("saved_zip_bomb", "saved", _zip_bomb("bomb_prediction", member="kind.npy"), r"zip bomb", "zip bomb", ("cli", "api")),
    Case("saved_pickled_code", "saved", _pickled_npz, r"not a readable|lacks", "refused code (never unpickled)",
         ("cli", "api")),
    # model releases (given as --variant: the page has no such input)
    Case("config_yaml_python_tags", "release", _release(EVIL_YAML), REFUSED_CODE, "refused code",
         ("cli", "api")),
    Case("checkpoint_pickled_code", "release", _release(checkpoint_extra=True), REFUSED_CODE, "refused code",
         ("cli", "api")),
)
"""Every case of the corpus."""


def build_all(root: Path) -> dict[str, dict]:
    """Make every case under ``root`` (one folder per case); return ``{name: inputs}``."""
    built = {}
    for case in CASES:
        folder = root / case.name
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o755)
        try:
            built[case.name] = {**case.build(folder), "folder": folder}
        except ImportError as error:  # an optional reader (h5py) is not installed: its case is skipped
            built[case.name] = {"folder": folder, "skip": f"needs {error.name}"}
    return built


def by_name(name: str) -> Case:
    return next(case for case in CASES if case.name == name)


__all__ = ["CASES", "ENV", "Case", "build_all", "by_name", "planted_path", "zip_bomb"]
