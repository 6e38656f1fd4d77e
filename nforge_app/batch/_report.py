"""The report of a batch: one row per stimulus (``batch_report.csv``) and a summary (``batch_summary.json``)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields

from nforge_app.errors import UserInputError

REPORT_NAME = "batch_report.csv"
SUMMARY_NAME = "batch_summary.json"
STATUSES = ("ok", "failed", "skipped")
_MAX_FAILED_SHOWN = 5


@dataclass(frozen=True)
class Row:
    """What became of one stimulus.

    Attributes
    ----------
    id, path : str
        The stimulus (see ``BatchItem``).
    status : str
        ``ok`` (predicted now), ``failed`` or ``skipped`` (its output was already there).
    seconds : float
        Wall-clock time spent on it (0 when skipped).
    error : str
        Why it failed ('' otherwise).
    output : str
        Its npz in the output folder ('' when it failed).
    stimulus_s : float
        Its duration in seconds (0 when unknown: skipped or failed).
    finished_s : float
        When it was done, in seconds from the start of the batch (0 when skipped).
    """

    id: str
    path: str
    status: str
    seconds: float = 0.0
    error: str = ""
    output: str = ""
    stimulus_s: float = 0.0
    finished_s: float = 0.0


def report_csv(rows: list[Row]) -> str:
    """The rows as CSV text (header ``id,path,status,seconds,error,output,stimulus_s,finished_s``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([field.name for field in fields(Row)])
    for row in rows:
        values = asdict(row)
        for name in ("seconds", "stimulus_s", "finished_s"):
            values[name] = f"{values[name]:.3f}"
        writer.writerow(values.values())
    return out.getvalue()


def read_report(text: str) -> list[Row]:
    """Rows from the text of a ``batch_report.csv``."""
    rows = []
    for values in csv.DictReader(io.StringIO(text)):
        rows.append(Row(id=values["id"], path=values["path"], status=values["status"],
                        seconds=float(values["seconds"] or 0), error=values["error"], output=values["output"],
                        stimulus_s=float(values.get("stimulus_s") or 0),
                        finished_s=float(values.get("finished_s") or 0)))
    return rows


def summarise(rows: list[Row], seconds: float, settings: dict, versions: dict, started: str) -> dict:
    """The summary of a batch: counts, time, throughput, settings and versions (``batch_summary.json``)."""
    counts = {status: sum(row.status == status for row in rows) for status in STATUSES}
    done = [row for row in rows if row.status == "ok"]
    stimulus_s = sum(row.stimulus_s for row in done)
    return {
        "counts": {**counts, "total": len(rows)},
        "started": started,
        "seconds": round(seconds, 3),
        "throughput": {
            "stimuli_per_minute": round(60 * len(done) / seconds, 3) if seconds > 0 else 0.0,
            "stimulus_seconds_per_second": round(stimulus_s / seconds, 3) if seconds > 0 else 0.0,
            "stimulus_seconds": round(stimulus_s, 3),
        },
        "settings": settings,
        "versions": versions,
        "report": REPORT_NAME,
    }


def describe_batch(summary_text: str, report_text: str | None, location: str) -> str:
    """A few lines about a finished batch, for ``nforge info DIR``."""
    try:
        summary = json.loads(summary_text)
        counts, settings, throughput = summary["counts"], summary["settings"], summary["throughput"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise UserInputError(f"{location}/{SUMMARY_NAME} is not a batch summary ({error})") from None
    subject = settings.get("subject") or "the model's default"
    lines = [
        f"batch:      {location}  (started {summary.get('started', '?')})",
        f"model:      {settings.get('model')} (subject: {subject}), engine {settings.get('engine')}"
        + (f" ({settings['workers']} workers)" if settings.get("workers") else ""),
        f"stimuli:    {counts['total']}: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped",
        f"time:       {summary['seconds']:.1f} s; {throughput['stimuli_per_minute']:.2f} stimuli per minute, "
        f"{throughput['stimulus_seconds_per_second']:.2f} s of stimulus per second",
    ]
    failed = [row for row in read_report(report_text or "") if row.status == "failed"]
    for row in failed[:_MAX_FAILED_SHOWN]:
        lines.append(f"failed:     {row.id}: {row.error}")
    if len(failed) > _MAX_FAILED_SHOWN:
        lines.append(f"            ... and {len(failed) - _MAX_FAILED_SHOWN} more")
    lines.append(f"report:     {location}/{REPORT_NAME} (one row per stimulus), one .npz per stimulus")
    return "\n".join(lines)
