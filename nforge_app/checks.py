"""Checks of what users give, in one wording: every failure is a ``UserInputError`` naming what is accepted.

nilearn-style helpers used by every layer and face, so that a wrong name, index, subject or option reads
the same wherever it is caught: ``<what> <value>: <problem>; accepted: <allowed>``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

import numpy as np

from nforge_app.errors import UserInputError

_MAX_LISTED = 12
_SUBJECT_NUMBER = re.compile(r"(?:sub-?)?0*(\d+)")


def _listed(allowed: Iterable) -> str:
    values = [str(value) for value in allowed]
    if len(values) > _MAX_LISTED:
        return ", ".join(values[:_MAX_LISTED]) + f", ... ({len(values)} in all)"
    return ", ".join(values) or "(none)"


def check_in(name: str, value, allowed: Collection):
    """Return ``value`` if it is one of ``allowed``; else raise ``UserInputError`` listing them.

    Parameters
    ----------
    name : str
        What the value is, for the message (``"method"``, ``"export format"``).
    value : object
        What the user gave.
    allowed : collection
        The accepted values.

    Returns
    -------
    object
        ``value``, unchanged.

    Examples
    --------
    >>> check_in("method", "shapley", ("shapley", "ablation"))
    'shapley'
    """
    if value not in allowed:
        raise UserInputError(f"unknown {name} {value!r}; accepted: {_listed(allowed)}")
    return value


def check_all_in(name: str, values: Iterable, allowed: Collection) -> list:
    """Every one of ``values`` in ``allowed`` (duplicates dropped, order kept), and at least one of them."""
    values = list(dict.fromkeys(values or ()))
    unknown = [value for value in values if value not in allowed]
    if unknown or not values:
        problem = f"unknown: {_listed(map(repr, unknown))}; " if unknown else "none given; "
        raise UserInputError(f"{name}: {problem}accepted: {_listed(allowed)}")
    return values


def check_range(name: str, value, low: float, high: float, integer: bool = False):
    """``value`` as a number within ``[low, high]`` (an int when ``integer``; ``high`` may be ``inf``); else
    ``UserInputError``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not np.isfinite(number) or not low <= number <= high or (
            integer and number != int(number)):
        kind = "a whole number" if integer else "a number"
        span = f"of at least {low:g}" if high == np.inf else f"from {low:g} to {high:g}"
        raise UserInputError(f"{name} {value!r}: accepted: {kind} {span}")
    return int(number) if integer else number


def check_indices(indices, n_outputs: int, what: str = "output") -> np.ndarray:
    """Output indices as int64 ``(V,)`` within ``0..n_outputs - 1``; None stays None (all outputs).

    Raises
    ------
    UserInputError
        Indices that are not whole numbers, or lie outside the range.
    """
    if indices is None:
        return None
    array = np.asarray(indices).reshape(-1)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise UserInputError(f"{what} indices must be whole numbers; got {array.dtype} values")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= n_outputs):
        raise UserInputError(f"{what} indices {int(array.min())}..{int(array.max())}: accepted: 0 to "
                             f"{n_outputs - 1}")
    return array


def check_subject(model_id: str, subject, subjects: Collection, default=None, adapted: Iterable[str] = ()):
    """The subject to use: one parser for ``"1"``, ``1``, ``"sub-01"``, the card's names and adapted subjects.

    Parameters
    ----------
    model_id : str
        The model, for the message.
    subject : int, str or None
        What the user gave; None or ``""`` gives ``default``.
    subjects : collection
        The model card's subjects (ints such as 1, 2, 3, 5, or names such as ``"average"``).
    default : optional
        The card's default subject.
    adapted : iterable of str
        Names of subjects fitted by the user for this model (``nforge adapt``).

    Returns
    -------
    object
        The card's own value (``1``, ``"average"``) or the adapted subject's name.
    """
    if subject is None or (isinstance(subject, str) and not subject.strip()):
        return default
    adapted = tuple(adapted)
    text = str(subject).strip()
    for valid in tuple(subjects) + adapted:
        if str(valid) == text:
            return valid
    match = None if isinstance(subject, bool) else _SUBJECT_NUMBER.fullmatch(text.lower())
    if match is not None:
        for valid in subjects:
            if isinstance(valid, int) and valid == int(match.group(1)):
                return valid
    accepted = [str(s) for s in subjects]
    if any(isinstance(s, int) for s in subjects):
        accepted.append("('sub-01' style accepted)")
    accepted += [f"{name} (adapted)" for name in adapted]
    raise UserInputError(f"subject {subject!r} is not valid for {model_id}; accepted: {', '.join(accepted)}")


def check_options(model_id: str, options: Mapping, accepted: Mapping[str, str]) -> dict:
    """``options`` as a dict, if every name is one the model declares; else ``UserInputError`` listing them."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listed = "; ".join(f"{name} ({what})" for name, what in accepted.items()) or "none"
        raise UserInputError(f"{model_id} has no option {', '.join(map(repr, unknown))}; accepted options: {listed}")
    return dict(options)


__all__ = ["check_all_in", "check_in", "check_indices", "check_options", "check_range", "check_subject"]
