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

Limits for a public server (``nforge_app/_limits.py`` applies them; 0 turns a limit off):

==============================  =====================================================  ===============
environment variable            meaning                                                default
==============================  =====================================================  ===============
``NFORGE_MAX_TEXT_CHARS``       longest text (a .txt file, a transcript, per-TR text)  50000
``NFORGE_MAX_TRS``              most TRs of per-TR text or a per-TR transcript         2000
``NFORGE_MAX_ROIS``             most region names in one request                       200
``NFORGE_MAX_ATTRIBUTION_STEPS`` most integration steps of one attribution on the page   64
``NFORGE_MAX_JOBS``             jobs of one kind (predict, export...) run at once      2
``NFORGE_JOB_TIMEOUT_S``        a job running longer is cancelled (0: never)           page 600, else 0
``NFORGE_CACHE_MAX_GB``         cache size on disk; least recently used files go first  20
==============================  =====================================================  ===============
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


def _env_float(name: str, default: float | None) -> float | None:
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
    max_text_chars : int
        Most characters of text in one stimulus (0: no limit).
    max_trs : int
        Most TRs of per-TR text (0: no limit).
    max_rois : int
        Most region names in one request (0: no limit).
    max_attribution_steps : int
        Most integration steps of one attribution asked on the page (0: no limit); the command line and the
        Python API are not limited by it (they accept 2 to 512 steps).
    max_jobs : int
        Jobs of one kind run at once by the page (the others wait their turn).
    job_timeout_s : float or None
        A job running longer is cancelled at its next progress report; None: the page's default (600 s) in
        the page, no limit for the command line and the Python API; 0: no limit anywhere.
    cache_max_gb : float
        Size of the caches on disk; the least recently used files are removed beyond it (0: no limit).
    """

    cache_dir: Path = field(default_factory=lambda: Path("~/.cache/nforge").expanduser())
    atlas_dir: Path | None = None
    weights_dir: Path | None = None
    max_duration_s: float = 600.0
    max_file_mb: float = 500.0
    device: str = "auto"
    max_text_chars: int = 50_000
    max_trs: int = 2000
    max_rois: int = 200
    max_attribution_steps: int = 64
    max_jobs: int = 2
    job_timeout_s: float | None = None
    cache_max_gb: float = 20.0

    def __post_init__(self) -> None:
        check_in("device", self.device, DEVICES)
        if self.max_duration_s <= 0 or self.max_file_mb <= 0:
            raise UserInputError("max_duration_s and max_file_mb must be positive")
        for name in ("max_text_chars", "max_trs", "max_rois", "max_attribution_steps", "cache_max_gb"):
            check_range(name, getattr(self, name), 0, math.inf)
        check_range("max_jobs", self.max_jobs, 1, math.inf)
        if self.job_timeout_s is not None:
            check_range("job_timeout_s", self.job_timeout_s, 0, math.inf)

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
            max_text_chars=int(_env_float("NFORGE_MAX_TEXT_CHARS", 50_000)),
            max_trs=int(_env_float("NFORGE_MAX_TRS", 2000)),
            max_rois=int(_env_float("NFORGE_MAX_ROIS", 200)),
            max_attribution_steps=int(_env_float("NFORGE_MAX_ATTRIBUTION_STEPS", 64)),
            max_jobs=max(1, int(_env_float("NFORGE_MAX_JOBS", 2))),
            job_timeout_s=_env_float("NFORGE_JOB_TIMEOUT_S", None),
            cache_max_gb=_env_float("NFORGE_CACHE_MAX_GB", 20.0),
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
