"""Choosing the torch device from the user's setting."""

from __future__ import annotations

from nforge_app.config import DEVICES
from nforge_app.errors import UserInputError


def resolve_device(device: str = "auto") -> str:
    """Turn ``"auto"``, ``"cpu"`` or ``"cuda"`` into the device to use.

    ``"auto"`` picks CUDA when torch sees a GPU and the CPU otherwise; asking for ``"cuda"`` on a
    machine without one is a user error.
    """
    if device not in DEVICES:
        raise UserInputError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise UserInputError("device 'cuda' was asked for but torch sees no CUDA GPU; use 'cpu' or 'auto'")
    return "cpu"
