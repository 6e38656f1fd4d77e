"""Stimuli: probe and decode media, read text and transcripts, and build one timeline (``Stimulus``)."""

from nforge_app.stimuli._example import make_example_clip
from nforge_app.stimuli._load import SUPPORTED_EXTENSIONS, load_stimulus, stimulus_key
from nforge_app.stimuli._media import AUDIO_RATE_HZ, MediaInfo, probe
from nforge_app.stimuli._sound import StimulusSound, stimulus_sound
from nforge_app.stimuli._speech import PACED_WORDS_PER_S
from nforge_app.stimuli._types import STIMULUS_KINDS, AudioTrack, Stimulus, VideoReader, Word

__all__ = ["AUDIO_RATE_HZ", "AudioTrack", "MediaInfo", "PACED_WORDS_PER_S", "STIMULUS_KINDS", "SUPPORTED_EXTENSIONS",
           "Stimulus", "StimulusSound", "VideoReader", "Word", "load_stimulus", "make_example_clip", "probe",
           "stimulus_key", "stimulus_sound"]
