"""The page's examples: media made at first start (ffmpeg + espeak-ng), predicted once with nforge-lite.

Nothing large is committed: the example clip is generated into ``<cache>/examples`` the first time the app
starts, and each example's prediction is saved there too (named by the stimulus' content key), so later
starts show the first example at once.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from nforge_app._files import atomic_path
from nforge_app._version import __version__
from nforge_app.export import load_npz, save_npz
from nforge_app.models import get_card
from nforge_app.stimuli import make_example_clip, stimulus_key
from nforge_app.ui._inputs import stimulus_of
from nforge_app.ui._service import NO_FILE_TITLE, AppService, RunResult

log = logging.getLogger(__name__)

EXAMPLE_MODEL = "nforge-lite"
STORY = Path(__file__).parent / "static" / "example_story.txt"
CLIP_NAME = "nforge_example_clip.mp4"
PER_TR_LINES = (
    "The ship left the harbour at dawn.",
    "Gulls cried over the grey water.",
    "",
    "The captain unfolded an old map.",
    "It showed an island that no one had seen.",
    "",
    "",
    "A storm was gathering in the west.",
    "The sailors pulled the ropes tight.",
    "",
    "Then the first wave hit the deck.",
)


@dataclass(frozen=True)
class Example:
    """One example: what it is, which input tab it fills and which regions it selects."""

    key: str
    label: str
    description: str
    source: str
    roi: tuple[str, ...] = ()


EXAMPLES = (
    Example("clip", "Video with speech (20 s)",
            "A generated clip with its transcript: 8 s of speech over a colour test pattern, 5 s of silence on "
            "a dark screen, then speech over moving cells. Whole brain.", "media"),
    Example("story", "A short story (text file)",
            "A text file, spoken offline by espeak-ng (which also times the words). Auditory and language "
            "regions selected.", "text file", ("A1", "*STS*", "44", "45", "55b")),
    Example("lines", "One line per TR (text box)",
            f"{len(PER_TR_LINES)} lines, one per TR; empty lines are TRs without words. Language regions and the "
            "default network selected.", "per-TR text", ("STSdp", "STSva", "TE1a", "Default")),
)


def example_inputs(example: Example, folder: Path) -> dict:
    """The page's inputs for an example (media made when missing): source, files, text, model and regions."""
    inputs = {"source": example.source, "media_file": None, "transcript_file": None, "text_file": None,
              "tr_text": "", "model": EXAMPLE_MODEL, "roi": list(example.roi)}
    if example.source == "media":
        clip, transcript = make_example_clip(folder / CLIP_NAME)
        inputs["media_file"], inputs["transcript_file"] = str(clip), str(transcript)
    elif example.source == "text file":
        story = folder / STORY.name
        if not story.exists():
            with atomic_path(story) as tmp:
                shutil.copyfile(STORY, tmp)
        inputs["text_file"] = str(story)
    else:
        inputs["tr_text"] = "\n".join(PER_TR_LINES)
    return inputs


def run_example(service: AppService, example: Example, progress=None) -> RunResult:
    """The example's result: read from ``<cache>/examples`` when it was computed before, else predicted."""
    folder = service.settings.cache_dir / "examples"
    inputs = example_inputs(example, folder)
    card = get_card(EXAMPLE_MODEL)
    stimulus, tr_s = stimulus_of(service.ui_dir, inputs["source"], inputs["media_file"], inputs["transcript_file"],
                                 inputs["text_file"], inputs["tr_text"], None, card)
    # named by the package version too: a new nforge-lite never shows an old example
    cached = folder / f"{example.key}-{stimulus_key(stimulus, tr_s)[:16]}-{__version__}.{EXAMPLE_MODEL}.npz"
    if cached.exists():
        prediction = load_npz(cached)
    else:
        prediction = service.engine.predict(stimulus, EXAMPLE_MODEL, roi=list(example.roi) or None, tr_s=tr_s,
                                            progress=progress)
        save_npz(prediction, cached)
    path = None if isinstance(stimulus, list) else str(stimulus)
    return service.keep(prediction, list(example.roi), path, title=Path(path).stem if path else NO_FILE_TITLE,
                        tr_texts=stimulus if path is None else None, tr_s=tr_s)


class ExampleResults:
    """Computes every example once, in the background, so that the server starts at once.

    Parameters
    ----------
    service : AppService
        The page's service (its engine predicts, its folders keep the results).
    """

    def __init__(self, service: AppService) -> None:
        self.service = service
        self.results: dict[str, RunResult] = {}
        self.errors: dict[str, str] = {}
        self._events = {example.key: threading.Event() for example in EXAMPLES}
        self._go = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, delay_s: float = 0.0) -> ExampleResults:
        """Start computing (once), after ``delay_s`` or at the first :meth:`wait`, whichever comes first.

        Parameters
        ----------
        delay_s : float
            Seconds to leave to other work first (the first page load: on a first start, the examples
            take seconds of imports, ffmpeg and prediction, which would slow it down).

        Returns
        -------
        ExampleResults
            self.
        """
        if delay_s <= 0:
            self._go.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._compute, args=(delay_s,), name="nforge-examples",
                                            daemon=True)
            self._thread.start()
        return self

    def _compute(self, delay_s: float) -> None:
        self._go.wait(delay_s)
        for example in EXAMPLES:
            try:
                self.results[example.key] = run_example(self.service, example)
            except Exception as error:  # an example that fails must not stop the page; it says why instead
                log.exception("example %s failed", example.key)
                self.errors[example.key] = f"{type(error).__name__}: {error}"
            finally:
                self._events[example.key].set()

    def wait(self, key: str, timeout_s: float | None = None) -> RunResult | None:
        """The result of example ``key`` once ready (None after ``timeout_s`` or when it failed); computing
        starts now if it has not yet."""
        self.start()
        self._events[key].wait(timeout_s)
        return self.results.get(key)
