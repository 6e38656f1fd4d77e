"""How each face is given a case of the corpus, and what every refusal must leave behind (nothing)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
from _corpus import N_OUTPUTS, Case

LINES = ["the ship left the harbour", "", "gulls cried over the water", "the sea was calm"]
"""Per-TR text that the request, mask and release cases are made with (nothing wrong with it)."""
EXPORT_OPTIONS = {"formats": ["gif"], "views": ["dorsal"], "threshold_pct": 20.0, "size_px": 160}
"""Export options that are fine; an export case changes one of them."""
MAX_S = {"cli": 60.0, "api": 60.0, "page": 90.0}
"""Bounded time: a case must end within this (generous: two cores shared by every test)."""


def cache_files(cache: Path) -> set[Path]:
    """Files under the cache, less model weights and examples (not written per request)."""
    return {path for path in cache.rglob("*") if path.is_file() and not {"hub", "examples"} & set(path.parts)}


def assert_clean(cache: Path, before: set[Path], accepted: bool) -> None:
    """Nothing half-written: no temporary file of an atomic write is left, every new array file is whole, and a
    refused input left no prediction behind."""
    deadline = time.monotonic() + 15  # a background job of the page (the examples) may be writing just now
    while True:
        after = cache_files(cache)
        leftovers = [path for path in after if path.name.startswith(".")]
        if not leftovers or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not leftovers, leftovers
    new = after - before
    if not accepted:
        assert not [path for path in new if "predictions" in path.parts], new
    for path in new:
        if path.suffix in (".npz", ".npy"):
            loaded = np.load(path, allow_pickle=False)
            if hasattr(loaded, "files"):
                assert all(loaded[key] is not None for key in loaded.files)
                loaded.close()


def lines_file(folder: Path) -> Path:
    path = folder / "_lines.txt"
    path.write_text("\n".join(LINES), encoding="utf-8")
    return path


def cli_argv(case: Case, inputs: dict, out: Path, prediction_npz: Path) -> list[str]:
    """The ``nforge`` arguments that give the case to the command line."""
    folder = inputs["folder"]
    per_tr = ["predict", str(lines_file(folder)), "--per-tr", "--tr", "1", "--quiet", "--out", str(out)]
    if case.kind == "file":
        return ["predict", str(inputs["path"]), "--quiet", "--out", str(out)]
    if case.kind == "per_tr":
        return ["predict", str(inputs["path"]), "--per-tr", "--tr", "1", "--quiet", "--out", str(out)]
    if case.kind == "request":
        extra = []
        for key in ("model", "subject"):
            if key in inputs:
                extra += [f"--{key}", inputs[key]]
        if "roi" in inputs:
            extra += ["--roi", *inputs["roi"]]
        return per_tr + extra
    if case.kind == "mask":
        return per_tr + ["--mask", str(inputs["path"])]
    if case.kind == "measured":
        return ["evaluate", str(prediction_npz), str(inputs["path"]), "--out", str(out.with_suffix(".eval.npz"))]
    if case.kind == "saved":
        return ["info", str(inputs["path"])]
    if case.kind == "delete":
        return ["subjects", "delete", inputs["name"]]
    if case.kind == "adapt":
        text = lines_file(folder)
        return ["adapt", "--stimuli", str(text), str(text), "--measured", str(prediction_npz), str(prediction_npz),
                "--name", inputs["name"], "--quiet"]
    if case.kind == "export":
        options = {**EXPORT_OPTIONS, **{k: v for k, v in inputs.items() if k in EXPORT_OPTIONS}}
        return ["export", str(prediction_npz), "--format", *options["formats"], "--view", *options["views"],
                "--threshold", str(options["threshold_pct"]), "--size", str(options["size_px"]), "--out",
                str(out.parent / "export")]
    if case.kind == "attribute":
        return ["attribute", str(inputs["path"]), "--method", "integrated-gradients", "--steps", inputs["steps"],
                "--quiet", "--out", str(out)]
    if case.kind == "release":
        return per_tr + ["--model", "tribe-v2", "--variant", str(inputs["variant"])]
    raise ValueError(case.kind)


def api_call(case: Case, inputs: dict, engine, prediction):
    """Give the case to the Python API (the engine, and ``load_npz`` for saved predictions); return its result."""
    if case.kind == "file":
        return engine.predict(str(inputs["path"]))
    if case.kind == "per_tr":
        return engine.predict(inputs["lines"], tr_s=1.0)
    if case.kind == "request":
        kwargs = {key: inputs[key] for key in ("model", "subject", "roi") if key in inputs}
        return engine.predict(LINES, tr_s=1.0, **kwargs)
    if case.kind == "mask":
        mask = inputs["mask"] if inputs["mask"] is not None else np.array([object()] * N_OUTPUTS, dtype=object)
        return engine.predict(LINES, tr_s=1.0, mask=mask)
    if case.kind == "measured":
        return engine.evaluate(prediction, str(inputs["path"]))
    if case.kind == "saved":
        from nforge_app.export import load_npz

        return load_npz(inputs["path"])
    if case.kind == "release":
        return engine.predict(LINES, tr_s=1.0, model="tribe-v2", variant=str(inputs["variant"]))
    if case.kind == "attribute":
        return engine.attribute(str(inputs["path"]), method="integrated-gradients", steps=inputs["steps"])
    if case.kind == "export":
        from nforge_app.export import export_prediction

        options = {**EXPORT_OPTIONS, **{k: v for k, v in inputs.items() if k in EXPORT_OPTIONS}}
        return export_prediction(prediction, options.pop("formats"), inputs["folder"] / "export", **options)
    if case.kind == "adapt":
        from nforge_app.analysis import adapt

        text = str(lines_file(inputs["folder"]))
        return adapt("nforge-lite", [text, text], [prediction.data, prediction.data], name=inputs["name"],
                     engine=engine)
    if case.kind == "delete":
        from nforge_app.analysis import delete_subject

        return delete_subject(engine.settings, inputs["name"])
    raise ValueError(case.kind)


def page_call(case: Case, inputs: dict, client, prediction_id: str) -> str:
    """Give the case to the page's API (gradio_client); return the message the page shows (its status line, or
    the error gradio itself raised), or ``"accepted"`` with a prediction."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    try:
        if case.kind == "measured":
            _, summary, *_ = client.predict(prediction_id, [handle_file(str(inputs["path"]))], "", None, False,
                                            api_name="/evaluate")
            return "accepted" if "Mean r" in summary else _unescape(summary)
        if case.kind == "export":
            options = {**EXPORT_OPTIONS, **{k: v for k, v in inputs.items() if k in EXPORT_OPTIONS}}
            files, note = client.predict(prediction_id, options["formats"], "surface", "inflated", options["views"],
                                         "symmetric", options["threshold_pct"], options["size_px"], api_name="/export")
            return "accepted" if files else _unescape(note)
        if case.kind == "explain":
            text, *_ = client.predict(inputs["id"], api_name="/explain")
            return _unescape(text)
        source, media, text, tr_text = "per-TR text", None, None, "\n".join(LINES)
        model, subject, roi = "nforge-lite", "average", []
        if case.kind == "file":
            path = str(inputs["path"])
            is_media = Path(path).suffix.lower() in (".mp4", ".mkv", ".wav", ".mp3", ".xyz", "")
            source = "media" if is_media else "text file"
            media, text = (handle_file(path), None) if is_media else (None, handle_file(path))
        elif case.kind == "per_tr":
            tr_text = "\n".join(inputs["lines"])
        elif case.kind == "request":
            model, subject, roi = inputs.get("model", model), inputs.get("subject", subject), inputs.get("roi", [])
        viewer, new_id, status, *_ = client.predict(source, media, None, text, tr_text, 1.0, model, subject, roi,
                                                    api_name="/predict")
        return "accepted" if new_id and "time steps" in status else _unescape(status)
    except AppError as error:
        return str(error)


def _unescape(markdown: str) -> str:
    """Markdown as the page shows it (``max\\_rois`` is shown ``max_rois``)."""
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!<>|])", r"\1", markdown)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_page(settings, **engine_options):
    """The page served on 127.0.0.1 (a free port) with an engine of ``settings``; call ``close()`` when done.

    Its examples are computed only once a browser opens the page (not in the background while a test counts
    the files of the cache).
    """
    from nforge_app.engine import Engine
    from nforge_app.ui import _app, launch

    engine = Engine(settings, device="cpu", **engine_options)
    delay_s, _app.EXAMPLES_DELAY_S = _app.EXAMPLES_DELAY_S, 24 * 3600.0
    try:
        return launch(engine, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                      quiet=True)
    finally:
        _app.EXAMPLES_DELAY_S = delay_s


SERVER_PATH = re.compile(r"(?<![\w.])/(?:tmp|home|root|etc|usr|var|work|proc)/")
"""A server path inside a message (the page must name none)."""
