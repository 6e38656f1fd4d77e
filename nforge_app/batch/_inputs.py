"""What a batch runs over: the stimuli of a folder (recursively, by extension) or the rows of a manifest."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from nforge_app.errors import UserInputError
from nforge_app.stimuli import SUPPORTED_EXTENSIONS

MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl")
MANIFEST_COLUMNS = ("path", "transcript", "id", "subject")
_MEDIA = SUPPORTED_EXTENSIONS["video"] + SUPPORTED_EXTENSIONS["audio"]
_STIMULUS_SUFFIXES = frozenset(suffix for suffixes in SUPPORTED_EXTENSIONS.values() for suffix in suffixes)
_MAX_LISTED = 5


@dataclass(frozen=True)
class BatchItem:
    """One stimulus of a batch.

    Attributes
    ----------
    id : str
        Its name in the report: the path relative to the input folder, or the manifest's ``id`` (its ``path``
        as written when the manifest has no ``id``).
    path : str
        The stimulus file.
    transcript : str or None
        Its transcript, in place of one beside the file (manifest column ``transcript``).
    subject : str or None
        Its subject (manifest column ``subject``); the batch's subject when None.
    """

    id: str
    path: str
    transcript: str | None = None
    subject: str | None = None


def read_items(source: str | os.PathLike, strict: bool = False) -> list[BatchItem]:
    """The stimuli of a folder or a manifest.

    Parameters
    ----------
    source : str or path-like
        A folder: every stimulus file inside it, recursively, by extension (hidden files and folders left
        out; a transcript named like a video or audio file beside it is that file's transcript, not a
        stimulus). Or a manifest: ``.csv``, ``.tsv`` or ``.jsonl`` (one JSON object a line) with the column
        ``path`` and optionally ``transcript``, ``id`` and ``subject`` (other columns are ignored); relative
        paths are read from the manifest's folder.
    strict : bool
        Refuse manifest paths outside the manifest's folder.

    Returns
    -------
    list of BatchItem
        In folder order (sorted paths) or manifest order.

    Raises
    ------
    UserInputError
        No such folder or manifest, a folder without stimuli, a manifest without a ``path`` column, with an
        empty path, duplicate ids, or (``strict``) paths outside its folder.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        return _folder_items(path)
    if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        return _manifest_items(path, strict)
    accepted = f"a folder of stimuli, or a manifest ({' '.join(MANIFEST_SUFFIXES)}) with a 'path' column"
    if path.is_file():
        raise UserInputError(f"{path.name} is neither a folder nor a manifest; accepted: {accepted} "
                             "(`nforge predict` takes one stimulus)")
    raise UserInputError(f"no folder or manifest at {os.fspath(source)!r}; accepted: {accepted}")


def _folder_items(folder: Path) -> list[BatchItem]:
    files = sorted(path for path in folder.rglob("*")
                   if path.suffix.lower() in _STIMULUS_SUFFIXES and path.is_file()
                   and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    media_stems = {(path.parent, path.stem) for path in files if path.suffix.lower() in _MEDIA}
    items = [BatchItem(id=path.relative_to(folder).as_posix(), path=str(path)) for path in files
             if not (path.suffix.lower() in SUPPORTED_EXTENSIONS["transcript"]
                     and (path.parent, path.stem) in media_stems)]
    if not items:
        raise UserInputError(f"no stimuli in {folder}; accepted: "
                             + "; ".join(f"{kind} {' '.join(suffixes)}" for kind, suffixes in SUPPORTED_EXTENSIONS.items()))
    return items


def _read_rows(manifest: Path) -> tuple[list[str], list[dict]]:
    """The column names and rows of a manifest (values as str, or as JSON gives them)."""
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserInputError(f"{manifest.name} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    if manifest.suffix.lower() != ".jsonl":
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if manifest.suffix.lower() == ".tsv" else ",")
        rows = list(reader)
        return [name.strip() for name in reader.fieldnames or ()], [
            {(key or "").strip(): value for key, value in row.items()} for row in rows]
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserInputError(f"{manifest.name} line {number} is not JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise UserInputError(f"{manifest.name} line {number} is not a JSON object with a 'path'")
        rows.append(row)
    return list(dict.fromkeys(key for row in rows for key in row)), rows


def _manifest_items(manifest: Path, strict: bool) -> list[BatchItem]:
    columns, rows = _read_rows(manifest)
    if "path" not in columns:
        raise UserInputError(f"{manifest.name} has no 'path' column (columns found: {', '.join(columns) or 'none'}); "
                             f"accepted columns: path (required), {', '.join(MANIFEST_COLUMNS[1:])}")
    if not rows:
        raise UserInputError(f"{manifest.name} lists no stimuli (no rows under its header)")
    folder = manifest.resolve().parent
    items, outside = [], []
    for number, row in enumerate(rows, start=1):
        values = {column: _text(row.get(column)) for column in MANIFEST_COLUMNS}
        if not values["path"]:
            raise UserInputError(f"{manifest.name} row {number} has an empty path")
        paths = [folder / Path(values[column]).expanduser() for column in ("path", "transcript") if values[column]]
        if strict:
            outside += [f"row {number}: {path}" for path in paths if not path.resolve().is_relative_to(folder)]
        items.append(BatchItem(id=values["id"] or values["path"], path=str(paths[0]),
                               transcript=str(paths[1]) if len(paths) > 1 else None, subject=values["subject"]))
    if outside:
        raise UserInputError(f"--strict: {len(outside)} path(s) lie outside the manifest's folder {folder}: "
                             + "; ".join(outside[:_MAX_LISTED]) + ("; ..." if len(outside) > _MAX_LISTED else ""))
    seen: dict[str, int] = {}
    for item in items:
        seen[item.id] = seen.get(item.id, 0) + 1
    duplicates = [f"{name!r} ({count} times)" for name, count in seen.items() if count > 1]
    if duplicates:
        raise UserInputError(f"{manifest.name} repeats ids: {', '.join(duplicates[:_MAX_LISTED])}; each row needs "
                             "its own id (column 'id', or distinct paths)")
    return items


def _text(value) -> str | None:
    """A manifest cell as stripped text; None when empty or missing."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None
