"""A prediction process that stops at a chosen moment until it is killed (run by ``test_faults.py``).

``python _fault_worker.py MOMENT MARKER`` predicts per-TR text with nforge-lite in the cache named by
``NFORGE_CACHE_DIR``. MOMENT is ``features`` (inside the text feature extractor, its work done, nothing
written), ``write:features`` or ``write:predictions`` (a cache file of that folder is written to its temporary
file, not yet moved into place). At that
moment the worker creates MARKER and sleeps: the test then sends SIGKILL.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

LINES = ["the ship left the harbour", "", "gulls cried over the water", "the sea was calm"]


def _stop_here(marker: Path) -> None:
    marker.write_text(str(os.getpid()))
    time.sleep(600)


def main(moment: str, marker: Path) -> None:
    from nforge_app import _files
    from nforge_app.engine import Engine
    from nforge_app.features.lite import LiteTextExtractor

    if moment == "features":
        extract = LiteTextExtractor.extract

        def stopping_extract(self, stimulus, progress):
            extract(self, stimulus, progress)
            _stop_here(marker)

        LiteTextExtractor.extract = stopping_extract
    elif moment.startswith("write:"):
        replace, folder = os.replace, moment.split(":", 1)[1]

        def stopping_replace(source, target):
            if folder in Path(target).parts:
                _stop_here(marker)
            replace(source, target)

        _files.os = type(sys)("os_with_a_stop")
        _files.os.__dict__.update(os.__dict__)
        _files.os.replace = stopping_replace
    else:
        raise SystemExit(f"unknown moment {moment!r}")
    Engine(device="cpu").predict(LINES, tr_s=1.0)
    raise SystemExit("the worker was not stopped")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
