"""The output folder of a batch: a local folder, or any fsspec URL (s3://, gs://, memory://, file://)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nforge_app._files import atomic_path
from nforge_app.errors import UserInputError
from nforge_app.export import export_prediction
from nforge_app.values import Prediction


class OutputFolder:
    """Where a batch writes its predictions and report; every file is written whole or not at all.

    A local folder (or a ``file://`` URL) is written through a temporary file and an atomic rename. Any
    other URL goes through fsspec, one upload a file (whole objects on object stores); its protocol's
    package must be installed (``s3fs`` for s3://, ``gcsfs`` for gs://).

    Parameters
    ----------
    location : str or path-like
        A folder or a URL.
    """

    def __init__(self, location: str | os.PathLike) -> None:
        self.location = os.fspath(location)
        self._fs, self._root = _filesystem(self.location)

    def __repr__(self) -> str:
        return f"OutputFolder({self.location!r})"

    def check(self) -> None:
        """Refuse a location that is a file."""
        is_file = self._root.exists() and not self._root.is_dir() if self._fs is None else self._fs.isfile(self._root)
        if is_file:
            raise UserInputError(f"the output folder {self.location} is a file; give a folder (made when missing)")

    def prepare(self) -> None:
        """Create the folder when missing (after :meth:`check`)."""
        self.check()
        if self._fs is None:
            self._root.mkdir(parents=True, exist_ok=True)
        else:
            self._fs.makedirs(self._root, exist_ok=True)

    def names(self) -> set[str]:
        """Names of the files directly inside the folder (temporary files left out)."""
        if self._fs is None:
            names = {path.name for path in self._root.iterdir()} if self._root.is_dir() else set()
        else:
            names = {entry.rstrip("/").rsplit("/", 1)[-1] for entry in self._fs.ls(self._root, detail=False)}
        return {name for name in names if not name.startswith(".")}

    def path(self, name: str) -> str:
        """The path or URL of ``name`` in the folder."""
        return str(self._root / name) if self._fs is None else f"{self._fs.unstrip_protocol(self._root)}/{name}"

    def save_prediction(self, name: str, prediction: Prediction) -> None:
        """Write ``prediction`` as ``name`` (``<stem>.npz``, the npz of ``nforge predict``)."""
        self._put(name, lambda path: _save_npz(prediction, path))

    def save_attribution(self, name: str, attribution) -> None:
        """Write an ``Attribution`` as ``name`` (the npz of ``nforge attribute``), whole or not at all."""
        from nforge_app.export import save_attribution

        self._put(name, lambda path: save_attribution(attribution, path))

    def _put(self, name: str, write) -> None:
        """``write(path)`` the file ``name`` into the folder: directly when local, else into a scratch folder
        and then up to the remote filesystem (the writers are atomic, so nothing half-written is seen)."""
        if self._fs is None:
            write(self._root / name)
            return
        with tempfile.TemporaryDirectory(prefix="nforge-batch-") as scratch:
            local = write(Path(scratch) / name)
            self._fs.put_file(local, f"{self._root}/{name}")

    def write_text(self, name: str, text: str) -> None:
        """Write ``text`` (UTF-8) as ``name``."""
        if self._fs is None:
            with atomic_path(self._root / name) as tmp:
                tmp.write_text(text, encoding="utf-8")
        else:
            self._fs.pipe_file(f"{self._root}/{name}", text.encode("utf-8"))

    def read_text(self, name: str) -> str | None:
        """The text of ``name``; None when it is not there."""
        try:
            if self._fs is None:
                return (self._root / name).read_text(encoding="utf-8")
            return self._fs.cat_file(f"{self._root}/{name}").decode("utf-8")
        except FileNotFoundError:
            return None


def _save_npz(prediction: Prediction, path: Path) -> Path:
    """``prediction`` written to ``path`` (``.npz``) as every face exports it."""
    files, _ = export_prediction(prediction, ["npz"], path.with_suffix(""))
    return files[0]


def _filesystem(location: str):
    """``(None, Path)`` for a local folder or file:// URL; ``(fsspec filesystem, root)`` for other URLs."""
    if "://" not in location:
        return None, Path(location).expanduser()
    try:
        from fsspec.core import url_to_fs
        from fsspec.implementations.local import LocalFileSystem
    except ImportError:
        raise UserInputError(f"an output URL ({location}) needs the fsspec package: pip install fsspec") from None
    try:
        fs, root = url_to_fs(location)
    except ImportError as error:
        raise UserInputError(f"the output URL {location} needs a package that is not installed: {error}") from None
    except ValueError as error:
        raise UserInputError(f"the output URL {location} is not one fsspec knows: {error}") from None
    if isinstance(fs, LocalFileSystem):
        return None, Path(root)
    return fs, root.rstrip("/")
