"""The limits a public server needs, applied in one place: text length, TRs, regions per request,
attribution steps, and the time a job may run (see the settings table in ``nforge_app/config.py``).

Every check raises :class:`~nforge_app.errors.UserInputError` naming the limit, its setting and its
environment variable, so that the person who hit it knows what to change (or to ask the server's owner).
A limit of 0 is no limit.
"""

from __future__ import annotations

import math
from collections.abc import Sized

from nforge_app.config import Settings
from nforge_app.errors import UserInputError

PAGE_JOB_TIMEOUT_S = 600.0
"""The page's per-job time limit when ``job_timeout_s`` is not set (the command line then has none)."""
FACES = ("page", "cli", "api")


def _over(value: float, limit: float) -> bool:
    return bool(limit) and value > limit


def _refuse(what: str, found: str, limit: float, setting: str) -> UserInputError:
    return UserInputError(f"{what} {found}, more than the limit of {limit:g} (setting {setting}, environment "
                          f"variable NFORGE_{setting.upper()})")


def check_text_length(text: str | Sized | int, name: str, settings: Settings, at_least: bool = False) -> None:
    """Refuse text longer than ``settings.max_text_chars`` characters.

    Parameters
    ----------
    text : str, sized or int
        The text (or anything whose ``len`` is its number of characters, or that number).
    name : str
        What the text is, for the message (a file's name, "the per-TR text").
    settings : Settings
        The limits.
    at_least : bool
        The count is a lower bound (counted from a file's size before reading it).
    """
    n_chars = text if isinstance(text, int) else len(text)
    if _over(n_chars, settings.max_text_chars):
        raise _refuse(f"{name} holds", f"{'at least ' * at_least}{n_chars:,} characters", settings.max_text_chars,
                      "max_text_chars")


def check_n_trs(n_trs: int, name: str, settings: Settings) -> None:
    """Refuse per-TR text (or a per-TR transcript) of more than ``settings.max_trs`` TRs."""
    if _over(n_trs, settings.max_trs):
        raise _refuse(f"{name} has", f"{n_trs:,} TRs", settings.max_trs, "max_trs")


def check_roi_count(roi, settings: Settings) -> None:
    """Refuse a request naming more than ``settings.max_rois`` regions (a string is one name)."""
    if roi is None or isinstance(roi, str):
        return
    names = list(roi)
    if _over(len(names), settings.max_rois):
        raise _refuse("the request names", f"{len(names):,} regions", settings.max_rois, "max_rois")


def check_attribution_steps(n_steps: int, settings: Settings, face: str = "page") -> int:
    """The number of integration steps of an attribution, checked against ``settings.max_attribution_steps``
    when ``face`` is the page (a public server); the command line and the Python API are not limited by it
    (their own range, 2 to 512 steps, is checked where they take the option).

    Returns
    -------
    int
        ``n_steps`` as an int.
    """
    try:
        steps = int(n_steps)
    except (TypeError, ValueError):
        raise UserInputError(f"attribution steps {n_steps!r}: accepted: a whole number of at least 1") from None
    if steps < 1 or steps != n_steps:
        raise UserInputError(f"attribution steps {n_steps!r}: accepted: a whole number of at least 1")
    if face not in FACES:
        raise ValueError(f"face {face!r} is not one of {FACES}")
    if face == "page" and _over(steps, settings.max_attribution_steps):
        raise _refuse("the attribution asks for", f"{steps} steps", settings.max_attribution_steps,
                      "max_attribution_steps")
    return steps


def job_timeout_s(settings: Settings, face: str) -> float:
    """Seconds a job of ``face`` (``"page"``, ``"cli"`` or ``"api"``) may run; ``inf`` for no limit.

    ``settings.job_timeout_s`` when set (0: no limit); else :data:`PAGE_JOB_TIMEOUT_S` for the page and no
    limit for the command line and the Python API, whose long runs (TRIBE v2 on a CPU) are legitimate.
    """
    if face not in FACES:
        raise ValueError(f"face {face!r} is not one of {FACES}")
    limit = settings.job_timeout_s
    if limit is None:
        limit = PAGE_JOB_TIMEOUT_S if face == "page" else 0.0
    return math.inf if not limit else float(limit)
