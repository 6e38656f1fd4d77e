"""TRIBE v2 feature extractors: Llama-3.2-3B (text), w2v-BERT 2.0 (audio) and V-JEPA2 giant (video).

Each extractor turns a :class:`~nforge_app.stimuli.Stimulus` into float32 ``(L=2, D, T)`` features on the
2 Hz grid the TRIBE v2 encoder was trained on, following the released configuration (layer groups,
context lengths, chunking, frame sampling). Models load lazily on the first ``extract`` through
:func:`~nforge_app.features._hf.load_hf_model` and stay loaded, unless ``low_mem_use`` frees them after
each call. :func:`extractors_from_config` builds the three from a release's ``config.yaml``.
"""

from __future__ import annotations

import gc
import logging
import platform
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from nforge_app._device import resolve_device, reuse_freed_tensor_memory
from nforge_app.checks import check_all_in, check_in, check_range
from nforge_app.errors import UserInputError
from nforge_app.features._base import ProgressFn, n_steps, no_progress
from nforge_app.features._hf import load_hf_model, resolve_dtype
from nforge_app.features._layers import (
    RELEASE_LAYER_FRACTIONS,
    group_hidden_states,
    grouped_states,
    layer_group_indices,
)
from nforge_app.stimuli import Stimulus

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

RELEASE_MODELS = {
    "text": "meta-llama/Llama-3.2-3B",
    "audio": "facebook/w2v-bert-2.0",
    "video": "facebook/vjepa2-vitg-fpc64-256",
}
TEXT_MODES = ("fast", "reference")
LLAMA_PAD_TOKEN = "<|finetune_right_pad_id|>"  # id 128004 in Llama 3: what the reference pads with
_FRAME_BYTES_PER_READ = 512 * 2**20  # decoded frames held at once by the video extractor


def word_bins(start_s: float, duration_s: float, rate_hz: float, total_steps: int) -> tuple[int, int]:
    """The grid steps ``[first, stop)`` a word is summed into.

    ``first = round(start * rate)``, ``stop = round((start + duration) * rate)`` and at least one step,
    clipped to ``[0, total_steps]`` (an empty range for a word outside the grid).
    """
    first = round(start_s * rate_hz)
    stop = max(round((start_s + duration_s) * rate_hz), first + 1)
    return min(max(first, 0), total_steps), min(max(stop, 0), total_steps)


def chunk_bounds(duration_s: float, min_s: float = 30.0, max_s: float = 60.0) -> list[tuple[float, float]]:
    """Split ``[0, duration_s]`` on a ``max_s`` grid; a last piece shorter than ``min_s`` joins the one before.

    >>> chunk_bounds(100.0), chunk_bounds(80.0), chunk_bounds(130.0)
    ([(0.0, 60.0), (60.0, 100.0)], [(0.0, 80.0)], [(0.0, 60.0), (60.0, 130.0)])
    """
    if not 0 < min_s <= max_s:
        raise ValueError(f"need 0 < min_s <= max_s, got min_s={min_s}, max_s={max_s}")
    starts = [float(s) for s in np.arange(0.0, duration_s, max_s)] or [0.0]
    bounds = [(s, min(s + max_s, duration_s)) for s in starts]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_s:
        bounds[-2:] = [(bounds[-2][0], bounds[-1][1])]
    return bounds


def _joined(pieces: list[np.ndarray], n_groups: int, size: int) -> np.ndarray:
    """Per-chunk ``(L, D, steps)`` features one after the other (an empty grid when there are none)."""
    return np.concatenate(pieces, axis=-1) if pieces else np.zeros((n_groups, size, 0), dtype=np.float32)


def _fit_steps(features: np.ndarray, total_steps: int) -> np.ndarray:
    """Crop or zero-pad the last axis to ``total_steps`` (a last partial step has no features)."""
    out = np.zeros(features.shape[:-1] + (total_steps,), dtype=np.float32)
    keep = min(total_steps, features.shape[-1])
    out[..., :keep] = features[..., :keep]
    return out


class _TribeExtractor:
    """What the three extractors share: settings, lazy loading, freeing, cache parameters.

    Parameters common to the three extractors
    -----------------------------------------
    model : str
        Hub id or local folder of the transformers model (with its pre-processor).
    layers : sequence of float
        Layer fractions cutting the hidden states into groups (see :func:`layer_group_indices`).
    cache_n_layers : int or None
        Sub-select that many hidden states before grouping (20 for text and video in the release).
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    dtype : str, torch.dtype or None
        None = bfloat16 on a GPU (float16 without bf16) and on CPUs with native bf16 (AVX512-BF16, AMX;
        detected), float32 on other CPUs; ``NFORGE_FEATURE_DTYPE`` overrides the CPU choice.
    low_mem_use : bool
        Free the model after each ``extract`` (it loads again on the next).
    rate_hz : float
        Feature rate (2 Hz in the release).
    cache_dir, token : str or None
        Hub cache folder and token (see :func:`~nforge_app.features._hf.load_hf_model`).
    """

    modality = ""
    extractor_id = ""

    def __init__(self, model: str, *, layers: Sequence[float], cache_n_layers: int | None, device: str,
                 dtype: str | torch.dtype | None, low_mem_use: bool, rate_hz: float, cache_dir: str | None,
                 token: str | None) -> None:
        self.model = str(model)
        self.layers = tuple(float(f) for f in layers)
        self.cache_n_layers = cache_n_layers
        self.device = device
        self.dtype = dtype
        self.low_mem_use = low_mem_use
        self.rate_hz = float(rate_hz)
        self.cache_dir = cache_dir
        self.token = token
        self._parts: dict | None = None

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory now."""
        return self._parts is not None

    def _device(self) -> str:
        return resolve_device(self.device)

    def params(self) -> dict:
        """Every setting that changes the features (with the extractor id, the feature cache key)."""
        return {"model": self.model, "layers": list(self.layers), "cache_n_layers": self.cache_n_layers,
                "layer_aggregation": "group_mean", "dtype": self._dtype(),
                "rate_hz": self.rate_hz, **self._extra_params()}

    def _extra_params(self) -> dict:
        return {}

    def _dtype(self) -> str:
        """The model's dtype: as given, else bfloat16 on GPUs and on CPUs with native bf16, float32 elsewhere."""
        return resolve_dtype(self.dtype, self._device(), native_bf16_cpu=True)

    def _load(self, kind: str):
        if kind == "model" and self._device() == "cpu":
            # the feature models' activations reused, not re-mapped and re-zeroed layer after layer; a
            # process-wide setting, so only here, where it was measured (see the README)
            reuse_freed_tensor_memory()
        return load_hf_model(kind, self.model, device=self._device(), dtype=self._dtype(), cache_dir=self.cache_dir,
                             token=self.token)

    def _load_parts(self) -> dict:
        raise NotImplementedError

    def _compute(self, stimulus: Stimulus, parts: dict, progress: ProgressFn) -> np.ndarray:
        raise NotImplementedError

    def _groups(self, model) -> list[list[int]]:
        return layer_group_indices(model.config.num_hidden_layers + 1, self.layers, self.cache_n_layers)

    def extract(self, stimulus: Stimulus, progress: ProgressFn = no_progress) -> np.ndarray:
        """Features of ``stimulus``: float32 ``(L, D, T)`` with ``T = n_steps(stimulus.duration_s, rate_hz)``."""
        import torch

        if self._parts is None:
            progress(0.0, f"{self.modality}: loading {self.model}")
            self._parts = self._load_parts()
        try:
            with torch.inference_mode():
                features = self._compute(stimulus, self._parts, progress)
        finally:
            if self.low_mem_use:
                self.release()
        progress(1.0, f"{self.modality}: done")
        return features

    def release(self) -> None:
        """Free the loaded model (it loads again on the next ``extract``)."""
        if self._parts is None:
            return
        self._parts = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class TribeTextExtractor(_TribeExtractor):
    """Contextual word features from a causal language model (Llama-3.2-3B in the release).

    Each word gets a context of at most ``max_context_words`` words ending with itself, tokenised
    without special tokens and cut on the left to what the model accepts. Its vector, per hidden state,
    is the mean over its own tokens (the last ones of the context); the hidden states are then averaged
    into layer groups, and the vector is summed into every step its ``[start, start + duration]``
    overlaps (:func:`word_bins`). Steps without words are zero.

    Words go through the model ``batch_size`` at a time, in order, left-padded with
    ``<|finetune_right_pad_id|>`` (else the tokenizer's pad or end token) under an attention mask.

    ``reference_batching=True`` (the default) reproduces what the released weights were trained on: the
    reference counts a word's tokens as the padded batch length minus the tokens of the context before
    the word, so in a row shorter than the batch's longest the averaged span also takes in the end of
    the preceding words and the pad positions. The result then depends on ``batch_size`` (4 in the
    release). ``reference_batching=False`` averages exactly the word's own tokens.

    ``text_mode="fast"`` (the default) computes the same vectors from one causal pass over the transcript
    (chunks of ``max_context_words`` words for longer ones) and the pad token's own state: equal to the
    per-word path (``text_mode="reference"``) to float rounding for transcripts of up to
    ``max_context_words`` words; beyond, later words see a context starting at their chunk's start (at
    least half of ``max_context_words``), counted in ``last_context_report_`` and logged. See
    ``nforge_app.features._tribe_text``.

    Parameters
    ----------
    batch_size : int
        Words per forward pass (4 in the release).
    max_context_words : int
        Longest context in words, the word included (the release's ``max_context_len``, 1024).
    reference_batching : bool
        Average the span the reference averages (see above) rather than the word's own tokens.
    text_mode : {"fast", "reference"}
        One causal pass per chunk of words (fast) or one pass per word (the reference's algorithm).
    **common
        See ``_TribeExtractor``.
    """

    modality = "text"
    extractor_id = "tribev2-text"

    def __init__(self, model: str = RELEASE_MODELS["text"], *, layers: Sequence[float] = RELEASE_LAYER_FRACTIONS,
                 cache_n_layers: int | None = 20, batch_size: int = 4, max_context_words: int = 1024,
                 reference_batching: bool = True, text_mode: str = "fast", device: str = "cpu",
                 dtype: str | torch.dtype | None = None, low_mem_use: bool = False, rate_hz: float = 2.0,
                 cache_dir: str | None = None, token: str | None = None) -> None:
        super().__init__(model, layers=layers, cache_n_layers=cache_n_layers, device=device, dtype=dtype,
                         low_mem_use=low_mem_use, rate_hz=rate_hz, cache_dir=cache_dir, token=token)
        self.batch_size = check_range("batch_size", batch_size, 1, np.inf, integer=True)
        self.max_context_words = check_range("max_context_words", max_context_words, 1, np.inf, integer=True)
        self.reference_batching = reference_batching
        self.text_mode = check_in("text_mode", text_mode, TEXT_MODES)
        self.last_context_report_ = None

    def _extra_params(self) -> dict:
        return {"batch_size": self.batch_size, "max_context_words": self.max_context_words,
                "reference_batching": self.reference_batching, "text_mode": self.text_mode}

    def _load_parts(self) -> dict:
        return {"tokenizer": self._load("tokenizer"), "model": self._load("model")}

    def _pad_id(self, tokenizer) -> int:
        pad = tokenizer.convert_tokens_to_ids(LLAMA_PAD_TOKEN)
        if pad is not None and pad != tokenizer.unk_token_id:
            return pad
        return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def _compute(self, stimulus: Stimulus, parts: dict, progress: ProgressFn) -> np.ndarray:
        model = parts["model"]
        groups = self._groups(model)
        total = n_steps(stimulus.duration_s, self.rate_hz)
        out = np.zeros((len(groups), model.config.hidden_size, total), dtype=np.float32)
        words = [w for w in stimulus.words if w.text.strip()]
        texts = [w.text.strip() for w in words]
        fast = self._fast_vectors(texts, parts, groups, progress) if self.text_mode == "fast" else None
        if fast is not None:
            for word, vector in zip(words, fast):
                lo, hi = word_bins(word.start_s, word.duration_s, self.rate_hz, total)
                out[:, :, lo:hi] += vector[:, :, None]
            return out
        for first in range(0, len(words), self.batch_size):
            indices = range(first, min(first + self.batch_size, len(words)))
            progress(first / len(words), f"text: words {first + 1}-{indices[-1] + 1} of {len(words)}")
            vectors = self._word_vectors(texts, indices, parts, groups)
            for i, vector in zip(indices, vectors):
                lo, hi = word_bins(words[i].start_s, words[i].duration_s, self.rate_hz, total)
                out[:, :, lo:hi] += vector[:, :, None]
        return out

    def _fast_vectors(self, texts: list[str], parts: dict, groups, progress: ProgressFn) -> np.ndarray | None:
        """``(N, L, D)`` from causal passes over the transcript, or None (no words; a tokenizer it cannot serve)."""
        import torch

        from nforge_app.features._tribe_text import fast_word_vectors

        tokenizer, model = parts["tokenizer"], parts["model"]
        limit = min(model.config.max_position_embeddings, tokenizer.model_max_length)
        device = model.device

        def run(ids: list[int]) -> torch.Tensor:
            hidden = grouped_states(model, groups, input_ids=torch.tensor([ids], device=device),
                                    attention_mask=torch.ones((1, len(ids)), dtype=torch.long, device=device))
            return group_hidden_states(hidden, groups)[:, 0]  # (L, T, D)

        pad_state = parts.get("pad_state")
        if pad_state is None:  # one pass over two pad tokens (all the weights read once): kept with the model
            pad = torch.full((1, 2), self._pad_id(tokenizer), dtype=torch.long, device=device)
            pad_state = group_hidden_states(grouped_states(model, groups, input_ids=pad,
                                                           attention_mask=torch.zeros_like(pad)), groups)[:, 0, 0]
            parts["pad_state"] = pad_state
        result = fast_word_vectors(texts, tokenizer, run, pad_state, batch_size=self.batch_size,
                                   max_context_words=self.max_context_words, limit=limit,
                                   reference_batching=self.reference_batching, progress=progress)
        if result is None:
            return None
        vectors, self.last_context_report_ = result
        return vectors

    def _word_vectors(self, texts: list[str], indices: range, parts: dict, groups) -> np.ndarray:
        """``(len(indices), L, D)``: the vectors of words ``indices``, one padded batch."""
        import torch

        tokenizer, model = parts["tokenizer"], parts["model"]
        limit = min(model.config.max_position_embeddings, tokenizer.model_max_length)
        contexts = [texts[max(0, i - self.max_context_words + 1):i + 1] for i in indices]
        full = tokenizer([" ".join(c) for c in contexts], add_special_tokens=False)["input_ids"]
        before = tokenizer([" ".join(c[:-1]) for c in contexts], add_special_tokens=False)["input_ids"]
        rows, n_prefix = [], []
        for ids, prefix in zip(full, before):
            n_word = max(1, len(ids) - len(prefix))
            row = ids[-limit:]
            rows.append(row)
            n_prefix.append(len(row) - min(n_word, len(row)))
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self._pad_id(tokenizer), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        span = torch.zeros((len(rows), width), dtype=torch.float32)
        for r, (row, prefix) in enumerate(zip(rows, n_prefix)):
            input_ids[r, width - len(row):] = torch.tensor(row)
            mask[r, width - len(row):] = 1
            # The reference's count is the padded width minus the prefix; the true count is the row's.
            n_averaged = (width if self.reference_batching else len(row)) - prefix
            span[r, width - n_averaged:] = 1.0 / n_averaged
        device = model.device
        hidden = grouped_states(model, groups, input_ids=input_ids.to(device), attention_mask=mask.to(device))
        grouped = group_hidden_states(hidden, groups)  # (L, B, S, D)
        return torch.einsum("lbsd,bs->bld", grouped, span.to(device)).cpu().numpy()


class TribeAudioExtractor(_TribeExtractor):
    """Speech/sound features from w2v-BERT 2.0.

    The 16 kHz mono track is cut into chunks (:func:`chunk_bounds`: a 60-s grid, a last piece under 30 s
    joins the one before); each chunk is z-scored, turned into normalised log-mel features by the
    model's feature extractor and run through the model once. Its hidden states (about 50 per second)
    are averaged into layer groups and resampled to ``round(chunk_duration * rate_hz)`` steps by
    nearest-neighbour interpolation; the chunks follow each other on the grid. The release's
    ``cache_n_layers`` does not apply to this extractor (the reference never sub-selects audio layers).
    Its relative-key attention runs in blocks of queries without the ``(L, L, head_size)`` position tensor
    transformers builds: in float32 the same outputs, in bfloat16 on the CPU the arithmetic of
    transformers' eager bf16 attention; a layer takes about 0.4 of transformers' time on the CPU (see
    ``nforge_app.features._w2v_bert``).

    Parameters
    ----------
    normalize_waveform : bool
        z-score each chunk's samples before the feature extractor (the release's ``norm_audio``).
    chunk_min_s, chunk_max_s : float
        Chunking of long tracks (the release's ``chunksounds`` transform: 30 s and 60 s).
    **common
        See ``_TribeExtractor`` (no ``cache_n_layers``).
    """

    modality = "audio"
    extractor_id = "tribev2-audio"

    def __init__(self, model: str = RELEASE_MODELS["audio"], *, layers: Sequence[float] = RELEASE_LAYER_FRACTIONS,
                 normalize_waveform: bool = True, chunk_min_s: float = 30.0, chunk_max_s: float = 60.0,
                 device: str = "cpu", dtype: str | torch.dtype | None = None, low_mem_use: bool = False,
                 rate_hz: float = 2.0, cache_dir: str | None = None, token: str | None = None) -> None:
        super().__init__(model, layers=layers, cache_n_layers=None, device=device, dtype=dtype,
                         low_mem_use=low_mem_use, rate_hz=rate_hz, cache_dir=cache_dir, token=token)
        self.normalize_waveform = normalize_waveform
        self.chunk_min_s = float(chunk_min_s)
        self.chunk_max_s = float(chunk_max_s)

    def _extra_params(self) -> dict:
        return {"normalize_waveform": self.normalize_waveform, "chunk_s": [self.chunk_min_s, self.chunk_max_s]}

    def _load_parts(self) -> dict:
        from nforge_app.features._w2v_bert import (
            use_fast_relative_key_attention,
            use_linear_pointwise_convolutions,
        )

        model = self._load("model")
        use_fast_relative_key_attention(model)  # without the (L, L, d) position tensor
        use_linear_pointwise_convolutions(model)  # same sums, fewer layout copies
        return {"feature_extractor": self._load("feature_extractor"), "model": model}

    def _compute(self, stimulus: Stimulus, parts: dict, progress: ProgressFn) -> np.ndarray:
        import torch

        if stimulus.audio is None:
            raise ValueError("the audio extractor needs a stimulus with an audio track")
        feature_extractor, model = parts["feature_extractor"], parts["model"]
        rate = stimulus.audio.sample_rate_hz
        if rate != feature_extractor.sampling_rate:
            raise ValueError(f"audio must be at {feature_extractor.sampling_rate} Hz, got {rate} Hz")
        groups = self._groups(model)
        samples = np.asarray(stimulus.audio.samples, dtype=np.float32)
        chunks = chunk_bounds(stimulus.audio.duration_s, self.chunk_min_s, self.chunk_max_s)
        pieces = []
        for k, (start_s, stop_s) in enumerate(chunks):
            progress(k / len(chunks), f"audio: chunk {k + 1} of {len(chunks)}")
            steps = round((stop_s - start_s) * self.rate_hz)
            wave = samples[round(start_s * rate):round(stop_s * rate)]
            if steps == 0 or len(wave) == 0:
                continue
            if self.normalize_waveform:
                wave = (wave - wave.mean()) / (wave.std() + 1e-7)
            inputs = feature_extractor(wave, sampling_rate=rate, return_tensors="pt")
            if "attention_mask" in inputs and bool(inputs["attention_mask"].all()):
                del inputs["attention_mask"]  # nothing padded: the same outputs, without masking every layer
            inputs = {name: value.to(model.device) for name, value in inputs.items()}
            inputs["input_features"] = inputs["input_features"].to(model.dtype)
            hidden = grouped_states(model, groups, **inputs)
            grouped = group_hidden_states([None if h is None else h[0] for h in hidden], groups)  # (L, F, D)
            series = grouped.permute(0, 2, 1)  # (L, D, F)
            pieces.append(torch.nn.functional.interpolate(series, size=steps, mode="nearest").cpu().numpy())
        return _fit_steps(_joined(pieces, len(groups), model.config.hidden_size),
                          n_steps(stimulus.duration_s, self.rate_hz))


class TribeVideoExtractor(_TribeExtractor):
    """Video features from V-JEPA2 (the giant, 64-frame model in the release).

    The video is cut into chunks like the audio (:func:`chunk_bounds`). In a chunk of duration ``D``
    starting at ``c``, step ``i = 1..N`` (``N = round(D * rate_hz)``) ends at ``t_i = c + D * i / N`` and
    sees ``n = frames_per_clip`` frames at ``max(c, t_i - (n - 1 - j) * clip_duration_s / n)``
    (``j = 0..n-1``; 64 frames every 1/16 s over 4 s in the release), each the frame nearest that time.
    Frames are resized (shortest edge, bilinear with antialiasing, on the CPU as the reference's
    processor does), centre-cropped and normalised with the saved video processor's settings; the
    hidden states are averaged over all tokens, then into layer groups.

    Every source frame is decoded and resized once, however many windows share it.

    Parameters
    ----------
    batch_size : int
        Grid steps (64-frame clips) per forward pass (32 in the release; lower it on a small GPU).
    clip_duration_s : float
        Length of video each step sees (4 s in the release).
    frames_per_clip : int or None
        Frames per step; None = the model's ``frames_per_clip`` (64).
    chunk_min_s, chunk_max_s : float
        Chunking of long videos (the release's ``chunkvideos`` transform: 30 s and 60 s).
    **common
        See ``_TribeExtractor``.
    """

    modality = "video"
    extractor_id = "tribev2-video"

    def __init__(self, model: str = RELEASE_MODELS["video"], *, layers: Sequence[float] = RELEASE_LAYER_FRACTIONS,
                 cache_n_layers: int | None = 20, batch_size: int = 32, clip_duration_s: float = 4.0,
                 frames_per_clip: int | None = None, chunk_min_s: float = 30.0, chunk_max_s: float = 60.0,
                 device: str = "cpu", dtype: str | torch.dtype | None = None, low_mem_use: bool = False,
                 rate_hz: float = 2.0, cache_dir: str | None = None, token: str | None = None) -> None:
        super().__init__(model, layers=layers, cache_n_layers=cache_n_layers, device=device, dtype=dtype,
                         low_mem_use=low_mem_use, rate_hz=rate_hz, cache_dir=cache_dir, token=token)
        self.batch_size = check_range("batch_size", batch_size, 1, np.inf, integer=True)
        self.clip_duration_s = float(clip_duration_s)
        self.frames_per_clip = frames_per_clip
        self.chunk_min_s = float(chunk_min_s)
        self.chunk_max_s = float(chunk_max_s)

    def _extra_params(self) -> dict:
        return {"clip_duration_s": self.clip_duration_s, "frames_per_clip": self.frames_per_clip,
                "chunk_s": [self.chunk_min_s, self.chunk_max_s]}

    def _load_parts(self) -> dict:
        return {"processor": self._load("video_processor_config"), "model": self._load("model")}

    def step_times(self, duration_s: float, frames_per_clip: int) -> np.ndarray:
        """``(N_steps, frames_per_clip)`` frame times in seconds, one row per grid step (see the class)."""
        rows = []
        offsets = (frames_per_clip - 1 - np.arange(frames_per_clip)) * self.clip_duration_s / frames_per_clip
        for start_s, stop_s in chunk_bounds(duration_s, self.chunk_min_s, self.chunk_max_s):
            steps = round((stop_s - start_s) * self.rate_hz)
            for i in range(1, steps + 1):
                end_s = start_s + (stop_s - start_s) * i / steps
                rows.append(np.maximum(start_s, end_s - offsets))
        return np.array(rows, dtype=np.float64).reshape(-1, frames_per_clip)

    def _compute(self, stimulus: Stimulus, parts: dict, progress: ProgressFn) -> np.ndarray:
        import torch

        reader = stimulus.video
        if reader is None:
            raise ValueError("the video extractor needs a stimulus with a video")
        processor, model = parts["processor"], parts["model"]
        groups = self._groups(model)
        n_frames = self.frames_per_clip or model.config.frames_per_clip
        duration_s = reader.duration_s or stimulus.duration_s
        frame_index = np.maximum(np.round(self.step_times(duration_s, n_frames) * reader.fps), 0).astype(np.int64)
        frames_per_read = max(1, _FRAME_BYTES_PER_READ // max(1, reader.width * reader.height * 3))
        mean, std = (t.to(model.device) for t in _normalization(processor))
        cache: dict[int, torch.Tensor] = {}

        def clips_of(batch: np.ndarray) -> torch.Tensor:
            """uint8 ``(B, n, 3, h, w)`` clips; each source frame is decoded and resized once."""
            nonlocal cache
            wanted = np.unique(batch)
            cache = {i: cache[i] for i in wanted if i in cache}
            missing = np.array([i for i in wanted if i not in cache], dtype=np.int64)
            for lo in range(0, len(missing), frames_per_read):
                part = missing[lo:lo + frames_per_read]
                cache.update(zip(part.tolist(), _resize_crop(reader.frames_at(part / reader.fps), processor)))
            return torch.stack([torch.stack([cache[i] for i in row]) for row in batch])

        batch_size = self.batch_size
        if str(model.device).startswith("cpu"):
            batch_size = clips_fitting_memory(model.config, n_frames, model.dtype, self.batch_size)
        batches = [frame_index[i:i + batch_size] for i in range(0, len(frame_index), batch_size)]
        pieces = []
        # One worker decodes and resizes the next batch's frames (CPU) while the model runs on this one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            upcoming = pool.submit(clips_of, batches[0]) if batches else None
            for k, batch in enumerate(batches):
                first = k * batch_size
                progress(first / len(frame_index),
                         f"video: steps {first + 1}-{first + len(batch)} of {len(frame_index)} "
                         f"(batch {k + 1} of {len(batches)})")
                clips = upcoming.result()
                if k + 1 < len(batches):
                    upcoming = pool.submit(clips_of, batches[k + 1])
                pixels = ((clips.to(model.device).float() - mean) / std).to(model.dtype)
                hidden = grouped_states(model, groups, pixel_values_videos=pixels, skip_predictor=True)
                token_means = [None if h is None else h.float().mean(dim=1) for h in hidden]  # (B, D) each
                pieces.append(group_hidden_states(token_means, groups).permute(0, 2, 1).cpu().numpy())  # (L, D, B)
        return _fit_steps(_joined(pieces, len(groups), model.config.hidden_size),
                          n_steps(stimulus.duration_s, self.rate_hz))


def available_memory_bytes() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` (None where it cannot be read)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def clips_fitting_memory(config, n_frames: int, dtype, most: int, share: float = 0.5,
                         available: int | None = None) -> int:
    """V-JEPA2 clips per CPU forward pass that fit in ``share`` of the available memory (1 to ``most``).

    One clip holds ``n_frames / tubelet * (crop / patch)^2`` tokens; its activations at a layer are counted
    as 12 copies of (tokens x hidden) (q, k, v, attention output, the 4x feed-forward, residuals) plus the
    hidden states kept for the layer groups. The features do not depend on the batch size.
    """
    import torch

    available = available_memory_bytes() if available is None else available
    if available is None:
        return most
    tokens = (n_frames // getattr(config, "tubelet_size", 2)) * (getattr(config, "crop_size", 256)
                                                                 // getattr(config, "patch_size", 16)) ** 2
    width = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 4
    per_clip = tokens * config.hidden_size * width * (12 + config.num_hidden_layers // 2)
    fitting = max(1, min(most, int(share * available // per_clip)))
    if fitting < most:
        logger.info("video: %d clip(s) per pass instead of %d, to fit in %.1f GiB of free memory", fitting, most,
                    available / 2**30)
    return fitting


def _normalization(processor: Mapping):
    """``(mean, std)`` as (3, 1, 1) tensors on the 0-255 scale (rescale and normalise fused, as the processor)."""
    import torch

    scale = processor.get("rescale_factor", 1 / 255) if processor.get("do_rescale", True) else 1.0
    if not processor.get("do_normalize", True):
        return torch.zeros(3, 1, 1), torch.full((3, 1, 1), 1.0 / scale)
    mean = torch.tensor(processor["image_mean"], dtype=torch.float32).view(3, 1, 1) * (1.0 / scale)
    std = torch.tensor(processor["image_std"], dtype=torch.float32).view(3, 1, 1) * (1.0 / scale)
    return mean, std


_RESAMPLE_MODES = {2: "bilinear", 3: "bicubic"}  # PIL codes a saved processor uses


def _resize_crop(frames: np.ndarray, processor: Mapping):
    """uint8 ``(N, H, W, 3)`` frames -> uint8 ``(N, 3, h, w)``: shortest-edge resize, then centre crop."""
    import torch

    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    if processor.get("do_resize", True):
        mode = _RESAMPLE_MODES.get(int(processor.get("resample", 2)))
        if mode is None:
            raise ValueError(f"video processor resample={processor.get('resample')} is not supported; "
                             f"supported: {sorted(_RESAMPLE_MODES)} (PIL bilinear, bicubic)")
        short = processor["size"]["shortest_edge"]
        height, width = video.shape[-2:]
        if height <= width:
            size = (short, int(short * width / height))
        else:
            size = (int(short * height / width), short)
        # As torchvision (the reference's processor) on the CPU: resize uint8 natively where torch has the
        # kernel (bicubic; bilinear on AVX2/AVX512/ARM), else in float32 rounded back to uint8.
        native = mode == "bicubic" or (torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
                                       or platform.machine() in ("aarch64", "arm64"))
        if native:
            video = torch.nn.functional.interpolate(video, size=size, mode=mode, antialias=True)
        else:
            video = torch.nn.functional.interpolate(video.float(), size=size, mode=mode, antialias=True)
            video = video.clamp_(0, 255).round_().to(torch.uint8)
    if processor.get("do_center_crop", True):
        crop_h, crop_w = processor["crop_size"]["height"], processor["crop_size"]["width"]
        height, width = video.shape[-2:]
        if crop_h > height or crop_w > width:
            raise ValueError(f"frames of {height}x{width} after resizing are smaller than the crop "
                             f"{crop_h}x{crop_w}")
        top, left = int((height - crop_h) / 2.0), int((width - crop_w) / 2.0)
        video = video[..., top:top + crop_h, left:left + crop_w]
    return video.contiguous()


def _section(config: Mapping, dotted: str) -> Mapping:
    node = config
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise UserInputError(f"the TRIBE v2 release config has no '{dotted}' section (missing '{key}'); "
                                 "give the config.yaml of a TRIBE v2 release")
        node = node[key]
    return node


def _transform(config: Mapping, name: str) -> Mapping:
    """Settings of one data transform of the release (``data.study.transforms.<name>``), or ``{}``."""
    return ((config.get("data") or {}).get("study") or {}).get("transforms", {}).get(name) or {}


def _layer_settings(section: Mapping, where: str) -> dict:
    aggregation = section.get("layer_aggregation", "group_mean")
    if aggregation != "group_mean":
        raise UserInputError(f"{where}.layer_aggregation is {aggregation!r}; only 'group_mean' (the TRIBE v2 "
                             "release) is supported")
    layers = section.get("layers", RELEASE_LAYER_FRACTIONS)
    return {"layers": [layers] if isinstance(layers, (int, float)) else list(layers),
            "cache_n_layers": section.get("cache_n_layers")}


def extractors_from_config(config: dict, device: str = "cpu", dtype: str | torch.dtype | None = None,
                           low_mem_use: bool = False, model_paths: dict[str, str] | None = None,
                           video_batch_size: int | None = None, text_mode: str = "fast") -> list:
    """The TRIBE v2 extractors a release's ``config.yaml`` describes, in ``features_to_use`` order.

    Parameters
    ----------
    config : dict
        The parsed release config (plain dicts and lists).
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``; the devices pinned in the config are ignored (the release pins
        cuda, which CPU users could not run).
    dtype : str, torch.dtype or None
        Model dtype for every extractor (``"float32"``, ``"bfloat16"``, ``"float16"``, ``"auto"``); None =
        float32 on CPU, bfloat16 on GPU (float16 where the GPU lacks it).
    low_mem_use : bool
        Load one extractor's model at a time and free it when its modality is done.
    model_paths : dict or None
        ``{modality: local folder or hub id}`` replacing the config's model names (tests use tiny models).
    video_batch_size : int or None
        64-frame clips per V-JEPA2 forward pass instead of the config's (32 in the release, about 24 GiB of
        activations on a GPU in bf16; lower it on a smaller GPU). The features do not change.
    text_mode : {"fast", "reference"}
        Text features from one causal pass per chunk (default) or one pass per word (see
        ``TribeTextExtractor``).

    Returns
    -------
    list of FeatureExtractor
        ``TribeTextExtractor``, ``TribeAudioExtractor``, ``TribeVideoExtractor`` for the modalities used.
    """
    model_paths = dict(model_paths or {})
    if model_paths:
        check_all_in("modalities of model_paths", model_paths, RELEASE_MODELS)
    data = _section(config, "data")
    rate_hz = float(data.get("frequency", 2.0))
    common = {"device": device, "dtype": dtype, "low_mem_use": low_mem_use, "rate_hz": rate_hz}
    sections = {"text": "data.text_feature", "audio": "data.audio_feature", "video": "data.video_feature.image"}
    for modality, dotted in sections.items():
        pinned = str(_section(config, dotted).get("device", "cpu"))
        if pinned.startswith("cuda") and resolve_device(device) == "cpu":
            logger.info("the release config pins the %s extractor to %s; running it on cpu", modality, pinned)

    def build(modality: str):
        section = _section(config, sections[modality])
        model = model_paths.get(modality, section.get("model_name", RELEASE_MODELS[modality]))
        settings = _layer_settings(section, sections[modality])
        if modality == "text":
            context = _transform(config, "addcontext").get("max_context_len", 1024)
            return TribeTextExtractor(model, **settings, batch_size=int(section.get("batch_size", 4)),
                                      max_context_words=int(context), text_mode=text_mode, **common)
        if modality == "audio":
            chunks = _transform(config, "chunksounds")
            return TribeAudioExtractor(model, layers=settings["layers"],
                                       normalize_waveform=bool(section.get("norm_audio", True)),
                                       chunk_min_s=float(chunks.get("min_duration", 30.0)),
                                       chunk_max_s=float(chunks.get("max_duration", 60.0)), **common)
        video = _section(config, "data.video_feature")
        chunks = _transform(config, "chunkvideos")
        return TribeVideoExtractor(model, **settings, batch_size=int(video_batch_size or section.get("batch_size", 32)),
                                   clip_duration_s=float(video.get("clip_duration") or 4.0),
                                   frames_per_clip=video.get("num_frames"),
                                   chunk_min_s=float(chunks.get("min_duration", 30.0)),
                                   chunk_max_s=float(chunks.get("max_duration", 60.0)), **common)

    used = check_all_in("features_to_use (TRIBE v2 extractors)", data.get("features_to_use") or RELEASE_MODELS,
                        RELEASE_MODELS)
    return [build(modality) for modality in used]
