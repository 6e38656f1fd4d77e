"""Import gradio without rewriting its type stubs: half of the page's start-up otherwise.

Whenever gradio is imported, each component class it defines regenerates its ``.pyi`` stub in the installed
package: ``gradio.component_meta.create_or_modify_pyi`` parses the class's source file with ``ast``, renders
a template and compares the result with the stub on disk. For gradio 6 that is about 1 s of a 2.3 s import
on 2 cores, for files that only type checkers read. :func:`import_gradio` imports gradio with that function
replaced by a no-op (nothing else changes: the stubs of the installed package are already there). When
gradio was imported before, or a later gradio has no such function, it is a plain import.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

MISSING_GRADIO = ('the NForge web app needs gradio, which is not installed: pip install "nforge-app[ui]" '
                  '(the command line and the Python API work without it)')
_STUB_WRITER_MODULE = "gradio.component_meta"
_STUB_WRITER = "create_or_modify_pyi"


def _skip_stubs(*_args, **_kwargs) -> None:
    """Stands in for gradio's stub writer."""


class _StubWriterLoader(importlib.abc.Loader):
    """Loads ``gradio.component_meta`` as usual, then replaces its stub writer before any class uses it."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str):  # get_source, get_filename...: the wrapped loader's
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        if callable(getattr(module, _STUB_WRITER, None)):
            setattr(module, _STUB_WRITER, _skip_stubs)


class _StubWriterFinder(importlib.abc.MetaPathFinder):
    """Finds ``gradio.component_meta`` (once) and wraps its loader."""

    def find_spec(self, name, path, target=None):
        if name != _STUB_WRITER_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _StubWriterLoader(spec.loader)
        return spec


def import_gradio() -> ModuleType:
    """Import gradio (once per process) without its stub writer.

    Returns
    -------
    module
        The ``gradio`` package.

    Raises
    ------
    ImportError
        When gradio is not installed, saying how to install the web app's extra.
    """
    if sys.modules.get("gradio") is not None:
        return sys.modules["gradio"]
    finder = _StubWriterFinder()
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module("gradio")
    except ModuleNotFoundError as error:
        if error.name != "gradio":
            raise
        raise ImportError(MISSING_GRADIO) from None
    finally:
        sys.meta_path.remove(finder)
