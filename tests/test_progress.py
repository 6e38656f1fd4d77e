"""Progress on stderr: one line per stage (or per tenth of the items) when stderr is not a terminal, one redrawn bar when it is."""

import io

from nforge_app.progress import STAGE_WIDTH, CountProgress, StderrProgress, fit_stage, stderr_progress

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


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_counts_not_on_a_terminal_give_a_line_a_tenth_with_counts_and_time_left():
    stream, clock = io.StringIO(), _Clock()
    with CountProgress(20, {"ok": 0, "failed": 0, "skipped": 4}, unit="stimuli", stream=stream, clock=clock) as bar:
        assert not bar.terminal and bar.seconds_left() is None  # nothing done since the start: no pace yet
        for k in range(16):
            clock.now += 3.0  # 3 s an item; the 4 skipped before the start are not part of the pace
            bar.add("failed" if k == 5 else "ok")
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "   4/20 stimuli  ok 0, failed 0, skipped 4"
    assert lines[1] == "   6/20 stimuli  ok 2, failed 0, skipped 4, about 42 s left"  # 14 left x 3 s
    assert lines[-1] == "  20/20 stimuli  ok 15, failed 1, skipped 4"
    assert len(lines) == 9  # the start, then 30%, 40%, ... 100%: one line a tenth, not one an item


def test_counts_on_a_terminal_are_one_bar_with_each_outcome():
    stream = _Terminal()
    with CountProgress(3, {"ok": 0, "failed": 0, "skipped": 1}, unit="stimuli", stream=stream) as bar:
        bar.add("ok")
        bar.add("failed")
    last = [part for part in stream.getvalue().split("\r") if part.strip()][-1]
    assert last.startswith("stimuli: 100%") and "3/3" in last
    assert "ok=1, failed=1, skipped=1" in last


def test_disabled_counts_write_nothing_and_still_count():
    stream = _Terminal()
    with CountProgress(2, {"ok": 0, "failed": 0}, enabled=False, stream=stream) as bar:
        bar.add("ok")
    assert stream.getvalue() == "" and bar.counts == {"ok": 1, "failed": 0} and bar.done == 1
