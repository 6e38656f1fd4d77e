"""The hostile corpus, made once per session, and its limits as environment variables for every face."""

from __future__ import annotations

import pytest
from _corpus import ENV, LIMITS, build_all
from _hostile import launch_page

from nforge_app.config import Settings


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, dict]:
    """Every case of ``_corpus.CASES``, made under one temporary folder: ``{name: inputs}``."""
    return build_all(tmp_path_factory.mktemp("hostile"))


@pytest.fixture()
def corpus_env(monkeypatch):
    """The corpus's limits for the faces that read the environment (the command line, ``Settings.from_env``)."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


@pytest.fixture(scope="module")
def server(_private_cache):
    """The web page on 127.0.0.1 under the corpus's limits, one per test module."""
    demo = launch_page(Settings.from_env(**LIMITS))
    yield demo
    demo.close()
