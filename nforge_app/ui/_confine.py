"""The page reads only what was uploaded to it, and its messages name no server path.

:func:`confine_page` wraps every event of a built page: each argument that comes from a file component must
lie (symlinks followed) inside gradio's upload folder or the examples' folder, or the event is refused with
a message that names no path; and every :class:`~nforge_app.errors.UserInputError` made while the event
runs has its absolute paths cut to their file names (:func:`scrub_paths`). Gradio checks uploads itself
too; this holds whatever a gradio version lets through.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from nforge_app.config import Settings
from nforge_app.errors import UserInputError, message_filter

NOT_UPLOADED = ("this file was not uploaded to this page: upload it again (the page reads only files uploaded "
                "to it and its own examples)")
GONE = "the uploaded file is no longer on the server (uploads are kept for a day): upload it again"
# An absolute path: a slash at the start or after a space, quote, bracket or "=", with at least two parts.
_PATH = re.compile(r"(?:(?<=^)|(?<=[\s'\"(\[=]))/(?:[^\s'\"/]+/)+([^\s'\"/,;:)\]]*)")


def scrub_paths(message: str) -> str:
    """``message`` with each absolute path cut to its last part (``/srv/x/clip.mp4`` -> ``clip.mp4``)."""
    return _PATH.sub(lambda match: match.group(1) or "…", message)


def upload_roots(settings: Settings) -> list[Path]:
    """Folders the page reads input files from: gradio's upload folder and the examples' folder (resolved)."""
    from gradio.utils import get_upload_folder

    return [Path(get_upload_folder()).resolve(), (settings.cache_dir / "examples").resolve()]


def confined(path, roots: Sequence[Path]) -> str | None:
    """``path`` (a str or a gradio ``FileData``-like with ``.path``) if it lies inside ``roots`` and exists.

    Raises
    ------
    UserInputError
        The file is outside the folders (symlinks followed), or gone; the message names no path.
    """
    if path is None or path == "":
        return path
    raw = getattr(path, "path", path)
    if not isinstance(raw, str | os.PathLike):
        raise UserInputError(NOT_UPLOADED)
    resolved = Path(os.path.abspath(raw)).resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise UserInputError(NOT_UPLOADED)
    if not resolved.is_file():
        raise UserInputError(GONE)
    return path


def _confine_value(value, roots: Sequence[Path]):
    if isinstance(value, list | tuple):
        return type(value)(confined(item, roots) for item in value)
    return confined(value, roots)


def confine_page(demo, settings: Settings) -> None:
    """Wrap each event of ``demo`` (a built ``gr.Blocks``): file inputs confined, messages without paths.

    A refused file ends the event with ``gr.Error`` (the page shows it; an API client gets it as the error).
    """
    import gradio as gr

    roots = upload_roots(settings)
    for block_fn in demo.fns.values():
        if block_fn.fn is None or getattr(block_fn.fn, "_nforge_confined", False):
            continue
        file_args = [i for i, block in enumerate(block_fn.inputs) if isinstance(block, gr.File)
                     or (isinstance(block, gr.Audio) and block.type == "filepath")]
        block_fn.fn = _wrapped(block_fn.fn, file_args, roots, gr.Error)


def _wrapped(fn: Callable, file_args: list[int], roots: Sequence[Path], page_error: type) -> Callable:
    @functools.wraps(fn)
    def confined_fn(*args, **kwargs):
        token = message_filter.set(scrub_paths)
        try:
            args = list(args)
            for index in file_args:
                if index < len(args):
                    try:
                        args[index] = _confine_value(args[index], roots)
                    except UserInputError as error:
                        raise page_error(str(error)) from None
            return fn(*args, **kwargs)
        finally:
            message_filter.reset(token)

    confined_fn._nforge_confined = True
    return confined_fn
