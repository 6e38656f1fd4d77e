"""Per-TR features from a frozen causal language model, as Text2fMRI (Dixit 2026) reads them.

The recipe, step by step:

1. One string per TR: ``stimulus.tr_texts`` when the stimulus was given that way (with the same TR), else
   the words of the timeline cut into TRs of ``tr_s`` by their start time and joined with spaces. A line
   break inside a TR string becomes a space, since a line break marks the end of a TR.
2. All TR strings are joined into one text with ``"\\n"`` after each; TR ``k`` owns the characters of its
   string and of its ``"\\n"``.
3. The text is tokenized once (a fast tokenizer is required, for the character offsets) and run through the
   language model; each token's vector is the mean of the model's last ``num_last_hidden_states`` hidden
   states.
4. Each token goes to the first TR whose characters it overlaps (a token such as ``"\\n\\n"`` that spans the
   end of one TR and an empty TR belongs to the first); special tokens (no characters) go nowhere.
5. A TR's feature is the mean of its tokens' vectors; a TR without tokens is a zero vector.

Unlike the reference implementation, which truncates input longer than the model's context with a warning,
long input is run in overlapping windows: windows of ``W`` tokens (the model's context, or
``max_window_tokens`` if smaller) start every ``W // 2`` tokens, and each token's vector comes from the window
in which it has the most left context, so that every token sees at least ``W // 2`` tokens of context (all
of them within the first window) and nothing is dropped. Leading special tokens (a BOS) are repeated at the
start of every window. A stimulus without any text gives zeros without running the model.
"""

from __future__ import annotations

import re

import numpy as np

from nforge_app.checks import check_in, check_range
from nforge_app.features._base import ProgressFn, n_steps, no_progress
from nforge_app.stimuli import Stimulus

DEFAULT_LM = "Qwen/Qwen2.5-0.5B"
DTYPES = ("auto", "float32", "float16", "bfloat16")


def tr_strings(stimulus: Stimulus, tr_s: float, n_trs: int) -> list[str]:
    """The text of each of ``n_trs`` TRs of ``tr_s`` seconds.

    Uses ``stimulus.tr_texts`` when its TR is ``tr_s`` (or unknown); otherwise assigns each word to the TR
    its start time falls in and joins the words of a TR with spaces.
    """
    if stimulus.tr_texts is not None and (stimulus.tr_s is None or abs(stimulus.tr_s - tr_s) < 1e-6):
        texts = list(stimulus.tr_texts)
        if len(texts) > n_trs:
            raise ValueError(f"the stimulus has {len(texts)} TR strings but lasts only {n_trs} TRs of {tr_s} s")
        return texts + [""] * (n_trs - len(texts))
    buckets: list[list[str]] = [[] for _ in range(n_trs)]
    for word in stimulus.words:
        index = min(max(int(np.floor(word.start_s / tr_s + 1e-9)), 0), n_trs - 1)
        if word.text.strip():
            buckets[index].append(word.text.strip())
    return [" ".join(words) for words in buckets]


def join_trs(texts: list[str]) -> tuple[str, np.ndarray]:
    """Join TR strings with ``"\\n"`` after each; return the text and the (start, end) character span per TR."""
    cleaned = [re.sub(r"\r\n|[\r\n]", " ", text) for text in texts]
    lengths = np.array([len(text) + 1 for text in cleaned], dtype=np.int64)
    ends = np.cumsum(lengths)
    return "".join(text + "\n" for text in cleaned), np.column_stack([ends - lengths, ends]).reshape(-1, 2)


def assign_tokens(offsets: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Index of the first TR whose characters each token overlaps, or -1 (special tokens, no overlap).

    Parameters
    ----------
    offsets : ndarray of int (N, 2)
        Each token's (start, end) characters, end excluded.
    spans : ndarray of int (T, 2)
        Each TR's contiguous (start, end) characters, in order, starting at 0.
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    if len(spans) == 0:
        return np.full(len(offsets), -1, dtype=np.int64)
    starts, ends = offsets[:, 0], offsets[:, 1]
    # The first TR ending after the token starts is the first one it can overlap (the spans tile the text).
    first = np.searchsorted(spans[:, 1], starts, side="right")
    inside = first < len(spans)
    overlaps = inside & (ends > spans[np.minimum(first, len(spans) - 1), 0])
    return np.where(overlaps, first, -1)


def window_plan(n_tokens: int, window: int) -> list[tuple[int, int, int]]:
    """Overlapping windows over ``n_tokens`` tokens: ``(start, stop, keep_from)`` per window.

    Window ``j`` runs tokens ``start:stop`` (``start = j * (window // 2)``) and supplies the vectors of tokens
    ``keep_from:stop``: those that no earlier window contains, so each token is taken from the window in
    which it has the most left context. One window when everything fits.
    """
    if n_tokens <= window:
        return [(0, n_tokens, 0)]
    if window < 2:
        raise ValueError(f"a window must hold at least 2 tokens besides any leading special ones, got {window}")
    plan, start, kept = [], 0, 0
    while True:
        stop = min(start + window, n_tokens)
        plan.append((start, stop, kept))
        if stop >= n_tokens:
            return plan
        kept, start = stop, start + window // 2


def _context_length(model, tokenizer) -> int | None:
    """The longest input the model was built for, or None when it names no limit."""
    for name in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = getattr(model.config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10**7 else None


class LMPerTRExtractor:
    """Per-TR features of a frozen causal language model (the Text2fMRI recipe; see the module docstring).

    Parameters
    ----------
    model : str
        Hub id or local folder of the language model.
    num_last_hidden_states : int
        How many of the last hidden states are averaged per token.
    tr_s : float
        The TR, in seconds; the output has one step per TR (``rate_hz = 1 / tr_s``).
    device : str
        ``"cpu"`` or ``"cuda"`` (already resolved).
    dtype : str
        One of ``DTYPES``; ``"auto"`` is float16 on CUDA (as in the reference) and float32 on the CPU.
    max_window_tokens : int or None
        Longest window of tokens run at once; None uses the model's whole context.
    cache_dir, token :
        Hub cache folder and access token, passed to ``nforge_app.features._hf.load_hf_model`` (None: its
        defaults, ``<NFORGE_CACHE_DIR>/hub`` and ``HF_TOKEN``), which loads from the hub,
        ``NFORGE_WEIGHTS_DIR`` or a local folder and raises ``ModelUnavailableError`` when it cannot.
    """

    extractor_id = "lm-per-tr"
    modality = "text"

    def __init__(self, model: str = DEFAULT_LM, num_last_hidden_states: int = 4, tr_s: float = 1.49,
                 device: str = "cpu", dtype: str = "auto", max_window_tokens: int | None = None,
                 cache_dir: str | None = None, token: str | None = None) -> None:
        check_range("num_last_hidden_states", num_last_hidden_states, 1, np.inf, integer=True)
        if not tr_s > 0:
            raise ValueError(f"tr_s must be a positive number of seconds, got {tr_s!r}")
        check_in("dtype", dtype, DTYPES)
        if max_window_tokens is not None:
            check_range("max_window_tokens", max_window_tokens, 2, np.inf, integer=True)
        self.model = str(model)
        self.num_last_hidden_states = int(num_last_hidden_states)
        self.tr_s = float(tr_s)
        self.device = device
        self.dtype = dtype
        self.max_window_tokens = max_window_tokens
        self.cache_dir = cache_dir
        self.token = token
        self.lm_ = None

    @property
    def rate_hz(self) -> float:
        return 1.0 / self.tr_s

    @property
    def torch_dtype(self) -> str:
        """The dtype the language model runs in: ``dtype``, with ``"auto"`` resolved by the device."""
        if self.dtype != "auto":
            return self.dtype
        return "float16" if str(self.device).startswith("cuda") else "float32"

    def params(self) -> dict:
        """Everything that changes the numbers (the feature cache key)."""
        return {"version": 1, "model": self.model, "num_last_hidden_states": self.num_last_hidden_states,
                "tr_s": self.tr_s, "dtype": self.torch_dtype, "max_window_tokens": self.max_window_tokens}

    def load(self) -> None:
        """Load the fast tokenizer and the base model (no LM head) now, frozen and in eval mode.

        Otherwise the first extraction loads them. Raises ``ModelUnavailableError`` when they cannot be had.
        """
        if self.lm_ is not None:
            return
        from nforge_app.features._hf import load_hf_model

        tokenizer = load_hf_model("tokenizer", self.model, cache_dir=self.cache_dir, token=self.token)
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"the tokenizer of {self.model!r} is not a fast tokenizer; per-TR features need its "
                             "character offsets")
        model = load_hf_model("model", self.model, device=self.device, dtype=self.torch_dtype,
                              cache_dir=self.cache_dir, token=self.token)
        self.lm_ = (tokenizer, model.requires_grad_(False))

    def extract(self, stimulus: Stimulus, progress: ProgressFn = no_progress) -> np.ndarray:
        """Return float32 ``(1, hidden, T)``, one column per TR, ``T = n_steps(duration_s, 1 / tr_s)``."""
        n_trs = n_steps(stimulus.duration_s, self.rate_hz)
        return self.features(tr_strings(stimulus, self.tr_s, n_trs), progress)[None]

    def features(self, texts: list[str], progress: ProgressFn = no_progress) -> np.ndarray:
        """Float32 ``(hidden, len(texts))`` features of a list of TR strings."""
        progress(0.0, "text: loading the language model")
        self.load()
        tokenizer, model = self.lm_
        if not any(texts):
            progress(1.0, "text: no text, zero features")
            return np.zeros((model.config.hidden_size, len(texts)), dtype=np.float32)
        text, spans = join_trs(texts)
        encoded = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True,
                            add_special_tokens=True, truncation=False)
        ids = np.asarray(encoded["input_ids"], dtype=np.int64)
        owner = assign_tokens(np.asarray(encoded["offset_mapping"]), spans)
        special = np.asarray(encoded["special_tokens_mask"], dtype=bool)
        n_prefix = int(np.argmin(special)) if not special.all() else len(special)
        vectors = self._token_vectors(ids[:n_prefix], ids[n_prefix:], progress)
        return self._pool(vectors, owner[n_prefix:], len(texts))

    def _token_vectors(self, prefix: np.ndarray, tokens: np.ndarray, progress: ProgressFn) -> np.ndarray:
        """Float32 (len(tokens), hidden): mean of the last hidden states, run window by window."""
        import torch

        tokenizer, model = self.lm_
        limits = [w for w in (_context_length(model, tokenizer), self.max_window_tokens) if w is not None]
        window = min(limits, default=len(prefix) + len(tokens)) - len(prefix)
        plan = window_plan(len(tokens), window)
        out = np.zeros((len(tokens), model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for done, (start, stop, keep_from) in enumerate(plan):
                ids = torch.as_tensor(np.concatenate([prefix, tokens[start:stop]]), device=model.device)[None]
                states = model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states
                if self.num_last_hidden_states > len(states):
                    raise ValueError(f"{self.model!r} has {len(states)} hidden states; cannot average the last "
                                     f"{self.num_last_hidden_states}")
                mean = torch.stack(states[-self.num_last_hidden_states:]).float().mean(dim=0)[0, len(prefix):]
                out[keep_from:stop] = mean[keep_from - start:].cpu().numpy()
                progress((done + 1) / len(plan), f"text: language model window {done + 1}/{len(plan)}")
        return out

    @staticmethod
    def _pool(vectors: np.ndarray, owner: np.ndarray, n_trs: int) -> np.ndarray:
        """Mean of the vectors of each TR's tokens, (hidden, n_trs); zeros for TRs without tokens."""
        keep = owner >= 0
        sums = np.zeros((n_trs, vectors.shape[1]), dtype=np.float64)
        np.add.at(sums, owner[keep], vectors[keep])
        counts = np.bincount(owner[keep], minlength=n_trs)[:, None]
        return (sums / np.maximum(counts, 1)).T.astype(np.float32)
