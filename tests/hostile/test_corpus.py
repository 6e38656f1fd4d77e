"""The hostile corpus through the command line and the Python API: one clear message for each case (exit code 2
and one line on stderr; a ``UserInputError``), within a bounded time, nothing half-written in the cache, no
planted code run. The cases are in ``_corpus.py``; the page's side is ``test_corpus_page.py``."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _corpus import CASES, ENV, LIMITS, planted_path
from _hostile import LINES, MAX_S, api_call, assert_clean, cache_files, cli_argv

from nforge_app.config import Settings
from nforge_app.errors import UserInputError

REPO = Path(__file__).resolve().parents[2]
MAX_GROWTH_MB = 600
"""Bounded memory: the peak RSS of the test process grows by less than this over one case (a zip bomb of the
corpus inflates to 1 GB; media is decoded by ffmpeg in processes of its own)."""


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
CLI_CASES = [case for case in CASES if "cli" in case.faces]
API_CASES = [case for case in CASES if "api" in case.faces]


@pytest.fixture(scope="module")
def engine(_private_cache):
    from nforge_app.engine import Engine

    return Engine(Settings.from_env(**LIMITS), device="cpu")


@pytest.fixture(scope="module")
def prediction(engine):
    """A 10-TR prediction that the measured-data cases are scored against."""
    return engine.predict(LINES * 3, tr_s=1.0)


@pytest.fixture(scope="module")
def prediction_npz(prediction, tmp_path_factory):
    from nforge_app.export import save_npz

    return Path(save_npz(prediction, tmp_path_factory.mktemp("saved") / "prediction.npz"))


def _accepted_result(result) -> None:
    data = getattr(result, "data", None)
    assert data is not None and data.size and np.isfinite(data).all()


@pytest.mark.parametrize("case", API_CASES, ids=lambda case: case.name)
def test_python_api(case, corpus, engine, prediction, _private_cache):
    inputs = corpus[case.name]
    if "skip" in inputs:
        pytest.skip(inputs["skip"])
    before, peak = cache_files(_private_cache), _peak_mb()
    start = time.monotonic()
    if case.accepted:
        _accepted_result(api_call(case, inputs, engine, prediction))
    else:
        with pytest.raises(UserInputError) as caught:
            api_call(case, inputs, engine, prediction)
        assert re.search(case.expect, str(caught.value)), str(caught.value)
    assert time.monotonic() - start < MAX_S["api"] and _peak_mb() - peak < MAX_GROWTH_MB
    assert "victim" not in inputs or (inputs["victim"] / "keep.txt").exists()
    assert_clean(_private_cache, before, case.accepted)
    assert not planted_path(inputs["folder"]).exists()


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda case: case.name)
def test_command_line(case, corpus, corpus_env, prediction_npz, tmp_path, capsys, _private_cache):
    from nforge_app.cli import EXIT_USER_ERROR, main

    inputs = corpus[case.name]
    if "skip" in inputs:
        pytest.skip(inputs["skip"])
    out = tmp_path / "out.npz"
    before, peak = cache_files(_private_cache), _peak_mb()
    start = time.monotonic()
    code = main(cli_argv(case, inputs, out, prediction_npz))
    elapsed = time.monotonic() - start
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    if case.accepted:
        assert code == 0 and out.exists(), stderr
    else:
        assert code == EXIT_USER_ERROR, stderr
        errors = [line for line in stderr.splitlines() if line.startswith("nforge: error:")]
        assert len(errors) == 1 and re.search(case.expect, errors[0]), stderr
        assert not out.exists() and not list(tmp_path.glob(".*"))
    assert elapsed < MAX_S["cli"] and _peak_mb() - peak < MAX_GROWTH_MB
    assert "victim" not in inputs or (inputs["victim"] / "keep.txt").exists()
    assert_clean(_private_cache, before, case.accepted)
    assert not planted_path(inputs["folder"]).exists()


def test_the_real_command_exits_2_without_a_traceback(corpus, tmp_path, _private_cache):
    """A sample of the corpus through ``python -m nforge_app`` itself (a fresh process per case)."""
    import os

    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
    for name in ("text_named_mp4", "per_tr_100000_lines", "config_yaml_python_tags"):
        case = next(case for case in CASES if case.name == name)
        argv = cli_argv(case, corpus[name], tmp_path / "out.npz", tmp_path / "unused.npz")
        result = subprocess.run([sys.executable, "-m", "nforge_app", *argv], capture_output=True, text=True,
                                env=env, timeout=MAX_S["cli"], cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert re.search(case.expect, result.stderr) and result.stderr.count("\n") == 1, result.stderr
        assert not planted_path(corpus[name]["folder"]).exists()


def test_the_table_lists_every_case():
    table = (Path(__file__).parent / "CASES.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \|[^|]*\|[^|]*\| ([^|]+?) \|", table, flags=re.MULTILINE))
    assert set(rows) == {case.name for case in CASES}
    assert all(rows[case.name] == case.message_class for case in CASES)
    assert len(CASES) >= 40
