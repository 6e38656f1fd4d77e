"""Transcripts with times: SubRip (.srt), WebVTT (.vtt), and tab-separated tables (.tsv).

Two table layouts are read: one row per word or phrase (columns ``onset`` or ``start``, ``duration``,
``text`` or ``word``), and the Algonauts 2025 layout with one row per TR (``text_per_tr``,
``words_per_tr``, ``onsets_per_tr``, ``durations_per_tr``; the lists are Python literals such as
``['hello', 'there']``, read with ``ast.literal_eval``, never executed). Words of a subtitle cue or of a
multi-word row are spread evenly over its time span.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import re
from typing import NamedTuple

from nforge_app.errors import UserInputError
from nforge_app.stimuli._types import Word
from nforge_app.stimuli._words import spread_words

ALGONAUTS_TR_S = 1.49
ALGONAUTS_COLUMNS = ("text_per_tr", "words_per_tr", "onsets_per_tr", "durations_per_tr")
_START_COLUMNS = ("onset", "start")
_TEXT_COLUMNS = ("text", "word")
_ACCEPTED_TSV = (f"a header with columns {' or '.join(_START_COLUMNS)}, duration and {' or '.join(_TEXT_COLUMNS)} "
                 f"(seconds), or the Algonauts per-TR columns {', '.join(ALGONAUTS_COLUMNS)}")

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[.,](\d{1,3})"
_CUE_TIMES = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_MARKUP = re.compile(r"<[^>]*>|\{[^}]*\}")  # <i>, <v Speaker>, <00:01.000>, {\an8}
_VTT_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")


class Transcript(NamedTuple):
    """Words with times read from a transcript, with the per-TR texts where the file has them."""

    words: tuple[Word, ...]
    duration_s: float
    note: str
    tr_texts: tuple[str, ...] | None = None
    tr_s: float | None = None


def _timeline(words: list[Word], name: str, note: str) -> Transcript:
    if not words:
        raise UserInputError(f"{name} holds no words with times")
    words.sort(key=lambda word: word.start_s)
    return Transcript(tuple(words), max(word.start_s + word.duration_s for word in words), note)


def _cue_seconds(hours: str | None, minutes: str, seconds: str, fraction: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + float(f"0.{fraction}")


class _Cue(NamedTuple):
    start_s: float
    end_s: float
    lines: list[str]


def read_cues(text: str, name: str, webvtt: bool) -> Transcript:
    """Words of a SubRip (``webvtt=False``) or WebVTT file, spread evenly over each cue.

    Read as common players read them: a byte-order mark, CRLF or CR line ends, fields of one digit
    (``0:0:5,000``), ``.`` or ``,`` before the fraction (read as a decimal fraction of a second), cue settings
    after the times, and cues not separated by blank lines (a cue then ends where the next time line starts;
    a number just before that line is the next cue's number). Markup (``<i>``, ``<v Ann>``, ``{\\an8}``) is
    dropped; WebVTT ``NOTE``, ``STYLE`` and ``REGION`` blocks are skipped.

    Raises
    ------
    UserInputError
        Naming the line number and its text: a time line that cannot be read, a cue that ends before it
        starts, text outside any cue (no ``start --> end`` line before it); or no cue holds words.
    """
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    expected = "HH:MM:SS.mmm --> HH:MM:SS.mmm" if webvtt else "HH:MM:SS,mmm --> HH:MM:SS,mmm"
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if webvtt:
        if first is None or not lines[first].strip().startswith("WEBVTT"):
            raise UserInputError(f"{name} is not a WebVTT file: it must start with the line WEBVTT")
    cues: list[_Cue] = []
    cue: _Cue | None = None
    outside: list[tuple[int, str]] = []  # lines of the current block before any time line
    skipping = webvtt  # the WEBVTT header block, then NOTE, STYLE and REGION blocks

    def check_outside() -> None:
        # one line before a time line is the cue's number or name; more, or none followed, is lost text
        stray = [(number, line) for number, line in outside if not line.isdigit()]
        if stray:
            number, line = stray[0]
            raise UserInputError(f"{name}, line {number} ({line[:60]!r}) is outside any cue: no time line like "
                                 f"'{expected}' before it")

    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            if cue is None:
                check_outside()
            cue, outside, skipping = None, [], False
            continue
        if skipping:
            continue
        if "-->" in line:
            match = _CUE_TIMES.match(line)
            if match is None:
                raise UserInputError(f"{name}, line {number} ({line[:60]!r}): cannot read the times; write them "
                                     f"like '{expected}'")
            start_s, end_s = _cue_seconds(*match.groups()[:4]), _cue_seconds(*match.groups()[4:])
            if end_s < start_s:
                raise UserInputError(f"{name}, line {number} ({line[:60]!r}): the cue ends before it starts")
            if cue is not None and cue.lines and cue.lines[-1].isdigit():  # no blank line: the next cue's number
                cue.lines.pop()
            if len(outside) > 1:
                outside = outside[:-1]
                check_outside()
            cue, outside = _Cue(start_s, end_s, []), []
            cues.append(cue)
        elif cue is not None:
            cue.lines.append(line)
        elif webvtt and not outside and line.startswith(_VTT_SKIPPED_BLOCKS):
            skipping = True
        else:
            outside.append((number, line))
    if cue is None:
        check_outside()
    words: list[Word] = []
    for start_s, end_s, cue_lines in cues:
        words += spread_words(_MARKUP.sub(" ", " ".join(cue_lines)), start_s, end_s - start_s)
    return _timeline(words, name, "word times spread evenly over each subtitle cue")


def _number(cell: str, name: str, line: int, column: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UserInputError(f"{name}, line {line}: {column} {cell!r} is not a time in seconds (a number >= 0)")
    return value


def _literal_list(cell: str, item_types: tuple[type, ...], name: str, line: int, column: str) -> list:
    """A cell holding a Python list literal; an empty cell or ``nan`` is an empty list."""
    cell = cell.strip()
    if not cell or cell.lower() == "nan":
        return []
    try:
        value = ast.literal_eval(cell)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = None
    if not isinstance(value, list | tuple) or not all(
            isinstance(item, item_types) and not isinstance(item, bool) for item in value):
        kind = "strings" if item_types == (str,) else "numbers"
        raise UserInputError(f"{name}, line {line}: {column} must be a list of {kind} like "
                             f"{['hello', 'there'] if kind == 'strings' else [0.5, 0.9]}, got {cell[:60]!r}")
    return list(value)


def _read_algonauts(rows: list[list[str]], header: list[str], name: str) -> Transcript:
    column = {key: header.index(key) for key in ALGONAUTS_COLUMNS}
    tr_texts, rows_words = [], []
    for line, row in enumerate(rows, start=2):
        cells = {key: row[index] if index < len(row) else "" for key, index in column.items()}
        text = cells["text_per_tr"].strip()
        tr_texts.append("" if text.lower() == "nan" else text)
        words = _literal_list(cells["words_per_tr"], (str,), name, line, "words_per_tr")
        onsets = _literal_list(cells["onsets_per_tr"], (int, float), name, line, "onsets_per_tr")
        durations = _literal_list(cells["durations_per_tr"], (int, float), name, line, "durations_per_tr")
        if not len(words) == len(onsets) == len(durations):
            raise UserInputError(f"{name}, line {line}: words_per_tr, onsets_per_tr and durations_per_tr must have "
                                 f"the same length, got {len(words)}, {len(onsets)} and {len(durations)}")
        rows_words.append(list(zip(words, onsets, durations, strict=True)))
    # Onsets count from the stimulus start; a file whose onsets all fall inside one TR although later TRs
    # hold words counts them from the start of each TR instead.
    onsets = [onset for row in rows_words for _, onset, _ in row]
    relative = bool(onsets) and max(onsets) < ALGONAUTS_TR_S and any(rows_words[1:])
    words = [Word(word, onset + (tr * ALGONAUTS_TR_S if relative else 0.0), duration)
             for tr, row in enumerate(rows_words) for word, onset, duration in row]
    if not any(tr_texts) and not words:
        raise UserInputError(f"{name} holds no words in any TR")
    words.sort(key=lambda word: word.start_s)
    return Transcript(tuple(words), len(rows) * ALGONAUTS_TR_S,
                      f"Algonauts per-TR transcript: {len(rows)} TRs of {ALGONAUTS_TR_S} s", tuple(tr_texts),
                      ALGONAUTS_TR_S)


def read_tsv(text: str, name: str) -> Transcript:
    """Words of a tab-separated transcript: one row per word or phrase, or the Algonauts per-TR layout.

    Raises
    ------
    UserInputError
        When the header has neither layout's columns, or a cell cannot be read.
    """
    try:
        rows = [row for row in csv.reader(io.StringIO(text), delimiter="\t") if any(cell.strip() for cell in row)]
    except csv.Error as error:
        raise UserInputError(f"{name} is not a readable tab-separated table ({error})") from None
    if not rows:
        raise UserInputError(f"{name} is empty; a .tsv transcript needs {_ACCEPTED_TSV}")
    header = [cell.strip().lstrip("\ufeff").lower() for cell in rows[0]]
    if all(key in header for key in ALGONAUTS_COLUMNS):
        return _read_algonauts(rows[1:], header, name)
    start_column = next((header.index(key) for key in _START_COLUMNS if key in header), None)
    text_column = next((header.index(key) for key in _TEXT_COLUMNS if key in header), None)
    if start_column is None or text_column is None or "duration" not in header:
        raise UserInputError(f"{name} has columns {rows[0]}; a .tsv transcript needs {_ACCEPTED_TSV}")
    duration_column = header.index("duration")
    words: list[Word] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < len(header):
            raise UserInputError(f"{name}, line {line} has {len(row)} cells, the header has {len(header)}")
        start_s = _number(row[start_column], name, line, header[start_column])
        duration_s = _number(row[duration_column], name, line, "duration")
        words += spread_words(row[text_column], start_s, duration_s)
    return _timeline(words, name, "word times from the transcript")
