"""Stimuli: probe and decode media, read text and transcripts, and build one timeline (``Stimulus``)."""

from nforge_app.stimuli._load import SUPPORTED_EXTENSIONS, load_stimulus, stimulus_key
from nforge_app.stimuli._types import STIMULUS_KINDS, AudioTrack, Stimulus, VideoReader, Word

__all__ = ["AudioTrack", "STIMULUS_KINDS", "SUPPORTED_EXTENSIONS", "Stimulus", "VideoReader", "Word",
           "load_stimulus", "stimulus_key"]
