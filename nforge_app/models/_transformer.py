"""Checks shared by the sizes of the rotary transformers (TRIBE v2's encoder, the Text2fMRI head)."""

from __future__ import annotations

from collections.abc import Callable


def check_heads(width_name: str, width: int, heads_name: str, heads: int,
                rotary_dim: Callable[[int], int] | None = None) -> int:
    """The head size of a transformer ``width`` wide with ``heads`` heads, if the sizes fit together.

    Parameters
    ----------
    width_name, heads_name : str
        The sizes' names in the config, for the message.
    width, heads : int
        Model width and number of attention heads: positive whole numbers, ``width`` a multiple of ``heads``.
    rotary_dim : callable, optional
        How many dimensions of a head of a given size the rotary position embedding turns (all of them when
        None): an even number no larger than the head size.

    Raises
    ------
    ValueError
        Naming the sizes that do not fit.
    """
    for name, value in ((width_name, width), (heads_name, heads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if width % heads:
        raise ValueError(f"{width_name} ({width}) must be divisible by {heads_name} ({heads})")
    head_dim = width // heads
    turned = head_dim if rotary_dim is None else rotary_dim(head_dim)
    if turned > head_dim or turned % 2:
        raise ValueError(f"the head size {width_name} / {heads_name} = {head_dim} must hold an even number of "
                         f"rotary dimensions ({turned})")
    return head_dim
