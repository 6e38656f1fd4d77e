"""Settings read from the environment, with defaults a new user never needs to change.

=========================  ==========================================================  ===========
environment variable       meaning                                                      default
=========================  ==========================================================  ===========
``NFORGE_CACHE_DIR``       where features, predictions and examples are cached        ``~/.cache/nforge``
``NFORGE_ATLAS_DIR``       another copy of the atlas files (the packaged ones otherwise) unset
``NFORGE_WEIGHTS_DIR``     a local folder with model releases, one sub-folder per model unset
``NFORGE_MAX_DURATION_S``  longest stimulus accepted, in seconds                        600
``NFORGE_MAX_FILE_MB``     largest stimulus file accepted, in MB                        500
``NFORGE_DEVICE``          ``auto``, ``cpu`` or ``cuda``                                ``auto``
=========================  ==========================================================  ===========
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from nforge_app.checks import check_in, check_range
from nforge_app.errors import UserInputError

DEVICES = ("auto", "cpu", "cuda")


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return check_range(name, value, 0.0, math.inf) if value else default


@dataclass(frozen=True)
class Settings:
    """Where NForge keeps its files and which limits it applies.

    Parameters
    ----------
    cache_dir : Path
        Root of the on-disk caches (features, predictions, examples).
    atlas_dir : Path or None
        Folder with another copy of the atlas files; the packaged copies are used when None.
    weights_dir : Path or None
        Folder with local model releases (``<weights_dir>/<model id>/``), used before the hub.
    max_duration_s : float
        Longest stimulus accepted.
    max_file_mb : float
        Largest stimulus file accepted.
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    cache_dir: Path = field(default_factory=lambda: Path("~/.cache/nforge").expanduser())
    atlas_dir: Path | None = None
    weights_dir: Path | None = None
    max_duration_s: float = 600.0
    max_file_mb: float = 500.0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_in("device", self.device, DEVICES)
        if self.max_duration_s <= 0 or self.max_file_mb <= 0:
            raise UserInputError("max_duration_s and max_file_mb must be positive")

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Read the settings from the ``NFORGE_*`` environment variables; keyword overrides win."""
        values = dict(
            cache_dir=_env_path("NFORGE_CACHE_DIR") or Path("~/.cache/nforge").expanduser(),
            atlas_dir=_env_path("NFORGE_ATLAS_DIR"),
            weights_dir=_env_path("NFORGE_WEIGHTS_DIR"),
            max_duration_s=_env_float("NFORGE_MAX_DURATION_S", 600.0),
            max_file_mb=_env_float("NFORGE_MAX_FILE_MB", 500.0),
            device=os.environ.get("NFORGE_DEVICE", "auto").strip() or "auto",
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
