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


BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # /proc/cpuinfo flags of native bfloat16 products


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel lists them (``/proc/cpuinfo``), empty where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as file:
            for line in file:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_bf16_native() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX), from its flags or torch's checks."""
    if BF16_CPU_FLAGS & cpu_flags():
        return True
    import torch

    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and check() for check in checks)
