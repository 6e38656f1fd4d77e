"""Batch prediction: many stimuli through the engine, on one machine or a Ray cluster, resumable.

``run(source, out, model=...)`` predicts every stimulus of a folder or manifest into ``out`` (one npz per
stimulus, named by content hash and prediction key; a rerun skips what is done) and writes
``batch_report.csv`` and ``batch_summary.json`` there. ``engine="ray"`` spreads the stimuli over Ray actors
that each hold one loaded model (``pip install 'nforge-app[scale]'``).
"""

from nforge_app.batch._folder import OutputFolder
from nforge_app.batch._inputs import MANIFEST_COLUMNS, MANIFEST_SUFFIXES, BatchItem, read_items
from nforge_app.batch._report import REPORT_NAME, STATUSES, SUMMARY_NAME, Row, describe_batch, read_report
from nforge_app.batch._run import ENGINES, BatchReport, run

__all__ = ["ENGINES", "MANIFEST_COLUMNS", "MANIFEST_SUFFIXES", "REPORT_NAME", "STATUSES", "SUMMARY_NAME", "BatchItem",
           "BatchReport", "OutputFolder", "Row", "describe_batch", "read_items", "read_report", "run"]
