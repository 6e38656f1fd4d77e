"""TRIBE v2 text features in a few causal passes instead of one pass per word (``text_mode="fast"``).

The reference gives every word its own forward pass over its context (up to ``max_context_words`` words
ending with the word), batched ``batch_size`` at a time, left-padded, and averages a span of positions
whose length comes from the padded batch (see ``TribeTextExtractor``). Llama is causal, so the hidden states
of a context's tokens are those of one pass over the transcript, as long as the context starts where the
pass starts. And a pad position under the attention mask attends to nothing real: its state is the same
vector at every position of every row (the pad token's own state, computed once). So each word's vector is

    (sum of the full-pass states over the last ``m`` tokens ending with the word
     + ``n_pads`` * pad state) / (``m`` + ``n_pads``)

with ``m`` and ``n_pads`` the reference's span geometry, computed from per-word token counts.

Exactness. For transcripts of at most ``max_context_words`` words whose tokens fit the model's positions,
every context starts at the first word, one pass covers them all and the result equals the per-word path
to float rounding (the tests check 1e-4 relative on tiny Llama models). Longer transcripts go in chunks of
``max_context_words`` words overlapping by ``overlap_words``: the words of a later chunk see a context that
starts at the chunk start (between ``overlap_words + 1`` and ``max_context_words`` words) instead of exactly
``max_context_words`` words back. Those words are counted (``ContextReport``) and logged; the bench
measures how much they differ. The geometry assumes that a context's tokens are its words' tokens end to end
(true for byte-level BPE tokenizers that split before spaces, like Llama 3's); each chunk is checked, and a
transcript where it fails is computed with the per-word path instead (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContextReport:
    """Where the fast path's contexts differ from the reference's.

    Attributes
    ----------
    n_words : int
        Words with text.
    n_passes : int
        Forward passes run (one per chunk).
    n_differing : int
        Words whose context starts elsewhere than the reference's (0 when the path is exact).
    shortest_context_words : int
        The shortest context (in words) a differing word saw, 0 when none differ.
    """

    n_words: int
    n_passes: int
    n_differing: int
    shortest_context_words: int

    @property
    def exact(self) -> bool:
        return self.n_differing == 0


@dataclass(frozen=True)
class _Geometry:
    """The reference's span per word: real tokens ``m`` ending with the word, pad positions ``n_pads``."""

    start: np.ndarray  # first word of each reference context
    length: np.ndarray  # tokens of each reference context (after the limit)
    real: np.ndarray  # m
    pads: np.ndarray  # n_pads


def reference_geometry(first: np.ndarray, later: np.ndarray, batch_size: int, max_context_words: int,
                       limit: int, reference_batching: bool = True) -> _Geometry:
    """The span each word's vector averages in the per-word path, from per-word token counts.

    Parameters
    ----------
    first, later : array of int (N,)
        Tokens of each word as the first word of a context (no space before) and after another word.
    batch_size, max_context_words, limit, reference_batching
        As the per-word path uses them (``limit``: the most tokens the model reads).
    """
    n = len(first)
    index = np.arange(n)
    start = np.maximum(0, index - max_context_words + 1)
    cumulative = np.concatenate([[0], np.cumsum(later)])
    # tokens of words[start..i] = first[start] + later[start+1..i]
    full = first[start] + cumulative[index + 1] - cumulative[start + 1]
    word = np.where(index > start, later, first)
    length = np.minimum(full, limit)
    n_word = np.maximum(1, word)
    prefix = length - np.minimum(n_word, length)
    width = length.copy()
    if reference_batching:
        for batch in range(0, n, batch_size):
            width[batch:batch + batch_size] = length[batch:batch + batch_size].max()
    averaged = width - prefix
    real = np.minimum(averaged, length)
    return _Geometry(start, length, real, averaged - real)


def _chunks(first: np.ndarray, later: np.ndarray, max_context_words: int, overlap_words: int,
            limit: int) -> list[tuple[int, int, int]]:
    """``(chunk start, first word emitted, end)``: word ranges of the passes; each fits ``limit`` tokens."""
    n = len(first)
    cumulative = np.concatenate([[0], np.cumsum(later)])

    def tokens(a: int, b: int) -> int:  # words [a, b)
        return int(first[a] + cumulative[b] - cumulative[a + 1])

    chunks, emitted = [], 0
    while emitted < n:
        start = max(0, emitted - overlap_words) if emitted else 0
        while start < emitted and tokens(start, emitted + 1) > limit:
            start += 1
        end = emitted + 1
        while end < n and end + 1 - start <= max_context_words and tokens(start, end + 1) <= limit:
            end += 1
        chunks.append((start, emitted, end))
        emitted = end
    return chunks


def fast_word_vectors(texts: Sequence[str], tokenizer, run: Callable, pad_state, *, batch_size: int,
                      max_context_words: int, limit: int, reference_batching: bool = True,
                      overlap_words: int | None = None,
                      progress: Callable[[float, str], None] = lambda f, s: None
                      ) -> tuple[np.ndarray, ContextReport] | None:
    """``((N, L, D) word vectors, ContextReport)``, or None when the tokenizer breaks the geometry.

    Parameters
    ----------
    texts : sequence of str
        The words (stripped, non-empty), in order.
    tokenizer
        The model's tokenizer.
    run : callable
        ``run(token ids list) -> float32 tensor (L, T, D)``: the grouped hidden states of one pass.
    pad_state : tensor (L, D)
        The grouped state of a masked pad position.
    overlap_words : int, optional
        Words a chunk repeats from the previous one (default ``max_context_words // 2``).
    """
    n = len(texts)
    if n == 0:
        return None
    first = np.array([len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]])
    later_ids = tokenizer([" " + t for t in texts], add_special_tokens=False)["input_ids"]
    later = np.array([len(ids) for ids in later_ids])
    geometry = reference_geometry(first, later, batch_size, max_context_words, limit, reference_batching)
    overlap = max_context_words // 2 if overlap_words is None else overlap_words
    chunks = _chunks(first, later, max_context_words, min(overlap, max_context_words - 1), limit)
    vectors = None
    differing, shortest = 0, 0
    pad_state = pad_state.float()
    for number, (start, emitted, end) in enumerate(chunks):
        progress(emitted / n, f"text: one causal pass, words {emitted + 1}-{end} of {n} "
                              f"(pass {number + 1} of {len(chunks)})")
        ids = tokenizer(" ".join(texts[start:end]), add_special_tokens=False)["input_ids"]
        pieces = tokenizer(texts[start], add_special_tokens=False)["input_ids"]
        expected = list(pieces) + [token for row in later_ids[start + 1:end] for token in row]
        if list(ids) != expected:
            logger.warning("text: the tokens of words %d-%d are not their words' tokens end to end; the fast "
                           "path would not be exact, so the per-word path runs", start + 1, end)
            return None
        states = run(ids)  # (L, T, D)
        if vectors is None:
            vectors = np.zeros((n, states.shape[0], states.shape[-1]), dtype=np.float32)
        ends = np.cumsum([len(pieces)] + [len(row) for row in later_ids[start + 1:end]])  # word i ends at ends[i-start]
        for i in range(emitted, end):
            stop = int(ends[i - start])
            real, pads = int(geometry.real[i]), int(geometry.pads[i])
            if geometry.start[i] != start or geometry.length[i] != stop:
                differing += 1
                shortest = min(shortest or i - start + 1, i - start + 1)
            take = min(real, stop)
            total = states[:, stop - take:stop].sum(dim=1)
            if pads:
                total = total + pads * pad_state
            vectors[i] = (total / (real + pads)).cpu().numpy()
        del states
    report = ContextReport(n, len(chunks), differing, shortest)
    if differing:
        logger.info("text: %d of %d words saw a shorter context than the reference's %d words (at least %d); "
                    "text_mode='reference' gives every word its full context", differing, n, max_context_words,
                    shortest)
    return vectors, report
