"""Teaching experiments: classic fMRI localisers run in silico, offline, on any model (nforge-lite included).

Each makes its stimuli (:mod:`nforge_app.stimuli._teaching`), then runs as any block experiment
(:func:`~nforge_app.analysis.contrast`): four blocks per condition, 70 relabellings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nforge_app.checks import check_in
from nforge_app.stimuli._teaching import make_motion_stimuli, make_sound_stimuli, make_speech_stimuli


@dataclass(frozen=True)
class TeachingExperiment:
    """A classic experiment: its conditions, the result it mirrors, the regions to look at, its stimuli.

    Attributes
    ----------
    key, label : str
        Its id and its name on the page.
    names : (str, str)
        The two conditions (A, B); the contrast is ``A - B``.
    classic : str
        One sentence on the classic result it mirrors.
    regions : tuple of str
        Where to look (region names of the Glasser atlas).
    make : callable
        ``make(folder) -> (paths of A, paths of B)``; files already there are kept.
    """

    key: str
    label: str
    names: tuple[str, str]
    classic: str
    regions: tuple[str, ...]
    make: Callable[[Path], tuple[list[Path], list[Path]]]

    def stimuli(self, folder: Path) -> tuple[list[Path], list[Path]]:
        """The stimuli of both conditions, made in ``folder / key`` when missing."""
        return self.make(Path(folder) / self.key)


TEACHING_EXPERIMENTS = (
    TeachingExperiment(
        "speech", "Speech vs reversed speech", ("speech", "reversed_speech"),
        "Mirrors Scott et al. (2000) and Binder et al. (2000): intelligible sentences drive the superior temporal "
        "sulcus and inferior frontal cortex more than the same sounds played backwards, while auditory cortex "
        "hears both alike.", ("*STS*", "44", "45", "A1"), make_speech_stimuli),
    TeachingExperiment(
        "motion", "Moving vs static gratings", ("moving", "static"),
        "Mirrors the MT+ localiser (Zeki et al. 1991; Tootell et al. 1995): area MT and its neighbours respond "
        "more to drifting than to still gratings of the same contrast, early visual cortex to both.",
        ("MT", "MST", "FST", "V1"), make_motion_stimuli),
    TeachingExperiment(
        "sound", "Sound vs silence", ("sound", "silence"),
        "Mirrors the auditory localiser (Binder et al. 1994): sounds drive primary auditory cortex and its belt "
        "on Heschl's gyrus; silence leaves them at rest.", ("A1", "LBelt", "MBelt", "PBelt"), make_sound_stimuli),
)


def get_teaching_experiment(key: str) -> TeachingExperiment:
    """The teaching experiment ``key`` (``"speech"``, ``"motion"`` or ``"sound"``)."""
    check_in("teaching experiment", key, [experiment.key for experiment in TEACHING_EXPERIMENTS])
    return next(experiment for experiment in TEACHING_EXPERIMENTS if experiment.key == key)
