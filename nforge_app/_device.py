"""Choosing the torch device from the user's setting (torch is imported only when it must be asked)."""

from __future__ import annotations

import re

from nforge_app.checks import check_in
from nforge_app.errors import UserInputError


def resolve_device(device: str = "auto") -> str:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into the device to use.

    ``"auto"`` picks CUDA when torch sees a GPU and the CPU otherwise; asking for CUDA on a machine
    without one is a user error.
    """
    device = str(device).strip().lower()
    if not re.fullmatch(r"cuda:\d+", device):
        check_in("device", device, ("auto", "cpu", "cuda", "cuda:N"))
    if device == "cpu":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda" if device == "auto" else device
    if device == "auto":
        return "cpu"
    raise UserInputError(f"device {device!r} was asked for but torch sees no CUDA GPU; use 'cpu' or 'auto'")
