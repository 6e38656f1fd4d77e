"""Progress on stderr: one line per stage when stderr is not a terminal, one redrawn bar when it is."""

import io

from nforge_app.progress import STAGE_WIDTH, StderrProgress, fit_stage, stderr_progress

STAGES = [(0.0, "decoding stimulus"), (0.1, "video features"), (0.1, "video: loading facebook/vjepa2-vitg-fpc64-256")]
STAGES += [(0.2 + 0.01 * k, f"TRIBE v2 encoder: windows {8 * k + 1}-{8 * k + 8} of 240") for k in range(30)]
STAGES += [(1.0, "TRIBE v2 encoder: done"), (1.0, "done")]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_gives_one_line_per_stage():
    stream = io.StringIO()
    progress = StderrProgress(stream)
    assert not progress.terminal
    for fraction, stage in STAGES:
        progress(fraction, stage)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines == ["  0%  decoding stimulus", " 10%  video features",
                     " 10%  video: loading facebook/vjepa2-vitg-fpc64-256",
                     " 20%  TRIBE v2 encoder: windows 1-8 of 240",  # the windows that follow are the same stage
                     "100%  TRIBE v2 encoder: done", "100%  done"]


def test_a_terminal_gets_one_bar_whose_stage_column_fits_every_stage():
    stream = _Terminal()
    with stderr_progress(stream=stream) as progress:
        assert progress.terminal
        for fraction, stage in STAGES:
            progress(fraction, stage)
    shown = [part.rstrip("\n") for part in stream.getvalue().split("\r") if part.strip()][1:]  # [0]: empty bar
    assert len(shown) >= len(STAGES)  # redrawn in place
    # every stage name whole, padded to one column: the bars line up
    assert {line[:STAGE_WIDTH].rstrip() for line in shown} == {stage for _, stage in STAGES}
    assert all(line[STAGE_WIDTH] == " " for line in shown)
    assert shown[-1].startswith("done ") and shown[-1].endswith("100%")


def test_long_stage_names_are_cut_at_a_word():
    assert fit_stage("short stage") == "short stage"
    assert fit_stage("text: loading a very long language model name", 24) == "text: loading a very…"
    assert fit_stage("x" * 60, 10) == "xxxxxxxxx…"
    assert len(fit_stage("word " * 30)) <= STAGE_WIDTH


def test_disabled_progress_is_none():
    with stderr_progress(enabled=False) as progress:
        assert progress is None
