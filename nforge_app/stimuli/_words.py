"""Splitting text into words, and placing words evenly inside a time span."""

from __future__ import annotations

import re

from nforge_app.stimuli._types import Word

_TOKEN = re.compile(r"\S+")
# Punctuation, quotes and symbols around a word are not part of it ("Hello," -> "Hello").
_EDGES = re.compile(r"^\W+|\W+$")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Words of ``text`` as ``(word, start, end)``; start and end index the whitespace-separated token.

    A token made only of punctuation or symbols is not a word.
    """
    words = []
    for match in _TOKEN.finditer(text):
        word = _EDGES.sub("", match.group())
        if word:
            words.append((word, match.start(), match.end()))
    return words


def spread_words(text: str, start_s: float, duration_s: float) -> list[Word]:
    """The words of ``text`` placed one after another, with equal durations, inside a time span."""
    words = [word for word, _, _ in split_words(text)]
    step_s = duration_s / max(len(words), 1)
    return [Word(word, start_s + i * step_s, step_s) for i, word in enumerate(words)]
