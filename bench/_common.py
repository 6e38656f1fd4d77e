"""Shared bits of the benchmarks: a results table printer and the JSON writer."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TESTS = Path(__file__).resolve().parents[1] / "tests"


def media_helpers():
    """The test-media generators (ffmpeg test sources, espeak-ng speech) from tests/_media.py."""
    sys.path.insert(0, str(TESTS))
    import _media

    return _media


def report(name: str, rows: list[tuple[str, float, str, str]], extra: dict | None = None,
           results: Path = RESULTS) -> Path:
    """Print ``rows`` (metric, value, unit, target) as a table and write ``<results>/<name>.json`` (returned)."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{name}  ({platform.processor() or platform.machine()}, python {platform.python_version()})")
    print(f"{'metric':<{width}}  {'value':>10}  unit    target")
    for metric, value, unit, target in rows:
        print(f"{metric:<{width}}  {value:>10.3f}  {unit:<6}  {target}")
    results.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "rows": [dict(metric=m, value=v, unit=u, target=t) for m, v, u, t in rows], **(extra or {})}
    path = results / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path
