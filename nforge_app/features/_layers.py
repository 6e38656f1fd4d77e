"""Which hidden states of a transformer become which layer group, as TRIBE v2 averages them.

A model with ``n`` hidden states (the embeddings plus one per layer) is cut at the layer fractions
(``[0.5, 0.75, 1.0]`` in the release): bounds = unique(int(f * (n - 1))) with the last bound moved one
past the end, and group ``g`` is the mean of the states from bound ``g`` up to (not including) bound
``g + 1``. When the release sets ``cache_n_layers`` the states are first sub-selected at
``round(linspace(0, n - 1, cache_n_layers))`` and the cut runs over that list instead.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

RELEASE_LAYER_FRACTIONS = (0.5, 0.75, 1.0)
SELECTED_STATES_FROM = "5.23"  # first transformers version checked to return the states asked for in place


def layer_group_indices(n_states: int, fractions: Sequence[float] = RELEASE_LAYER_FRACTIONS,
                        cache_n_layers: int | None = None) -> list[list[int]]:
    """Hidden-state indices averaged into each layer group.

    Parameters
    ----------
    n_states : int
        Number of hidden states the model returns (layers + 1; index 0 is the embeddings).
    fractions : sequence of float
        Layer fractions in [0, 1], increasing (the release config's ``layers``).
    cache_n_layers : int or None
        When set, the states are first sub-selected at ``round(linspace(0, n_states - 1, cache_n_layers))``
        and the fractions cut that list. A model with fewer states than this repeats some of them.

    Returns
    -------
    list of list of int
        One list of hidden-state indices per group (possibly with repeats, see ``cache_n_layers``).

    Examples
    --------
    >>> layer_group_indices(25)  # w2v-BERT 2.0, no sub-selection
    [[12, 13, 14, 15, 16, 17], [18, 19, 20, 21, 22, 23, 24]]
    >>> layer_group_indices(29, cache_n_layers=20)  # Llama-3.2-3B as released
    [[13, 15, 16, 18, 19], [21, 22, 24, 25, 27, 28]]
    """
    if n_states < 2:
        raise ValueError(f"need at least 2 hidden states to group, got {n_states}")
    fractions = [float(f) for f in fractions]
    if not fractions or any(not 0.0 <= f <= 1.0 for f in fractions) or sorted(fractions) != fractions:
        raise ValueError(f"layer fractions must be increasing values in [0, 1], got {fractions}")
    if cache_n_layers is not None and cache_n_layers < 2:
        raise ValueError(f"cache_n_layers must be at least 2 or None, got {cache_n_layers}")

    if cache_n_layers is None:
        states = list(range(n_states))
    else:
        states = [int(i) for i in np.round(np.linspace(0, n_states - 1, cache_n_layers))]
    bounds = sorted({int(f * (len(states) - 1)) for f in fractions})
    bounds[-1] += 1
    groups = [states[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    if not groups:
        raise ValueError(f"layer fractions {fractions} give no group over {len(states)} hidden states; "
                         "give at least two fractions that fall on different states")
    return groups


def group_hidden_states(states: Sequence, groups: Sequence[Sequence[int]]):
    """Average hidden states over each group.

    Parameters
    ----------
    states : sequence of torch.Tensor
        Hidden states indexed as the model returns them (entries not in any group may be None).
    groups : sequence of sequence of int
        As returned by :func:`layer_group_indices`.

    Returns
    -------
    torch.Tensor
        float32 ``(L, *state_shape)``: the mean over each group's states, stacked.
    """
    import torch

    return torch.stack([torch.stack([states[i].float() for i in group]).mean(dim=0) for group in groups])


def needed_states(groups: Sequence[Sequence[int]]) -> list[int]:
    """The sorted hidden-state indices that ``groups`` read (so a model can return only those)."""
    return sorted({i for group in groups for i in group})


def grouped_states(model, groups: Sequence[Sequence[int]], **inputs) -> list:
    """Run ``model(**inputs)`` and return its hidden states, None for the states ``groups`` do not read.

    transformers 5.23 and later compute only the states listed in ``output_hidden_states`` (and return
    them in place), which saves a lot of memory on big video batches. Earlier versions either return
    every state for a list or, in some 5.x releases, the wrong ones, so they are asked for all states.
    """
    wanted = needed_states(groups)
    n_states = model.config.num_hidden_layers + 1
    ask = wanted if _selects_hidden_states() else True
    hidden = model(**inputs, output_hidden_states=ask).hidden_states
    if len(hidden) != n_states:
        raise RuntimeError(f"{type(model).__name__} returned {len(hidden)} hidden states; expected {n_states}")
    return [state if i in wanted else None for i, state in enumerate(hidden)]


@functools.cache
def _selects_hidden_states() -> bool:
    from importlib.metadata import version

    from packaging.version import Version

    return Version(version("transformers")) >= Version(SELECTED_STATES_FROM)
