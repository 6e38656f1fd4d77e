"""The page's Evaluate section: measured fMRI for the prediction on show, scored by the engine, an r map.

:func:`evaluate_kept` does the work without gradio (the engine scores, ``viz`` builds the r map payload);
:func:`evaluate_section` adds the section's components to the page and wires them to the viewer. Stable API
name: ``evaluate``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path
from nforge_app.analysis import MEASURED_SUFFIXES
from nforge_app.errors import UserInputError
from nforge_app.export import save_evaluation
from nforge_app.spaces import get_space, load_fsaverage5
from nforge_app.ui._service import AppService, file_url, geometry_recipe
from nforge_app.values import Evaluation
from nforge_app.viz import evaluation_payload

N_BEST = 5


@dataclass(frozen=True)
class EvaluationResult:
    """An evaluation shown on the page: the viewer's value (the r map), a summary and the eval.npz file."""

    viewer_value: str
    summary: str
    file: Path
    evaluation: Evaluation


def summary_markdown(evaluation: Evaluation) -> str:
    """A few Markdown lines: the score, the ceiling, the best regions and the time alignment in words."""
    meta = evaluation.metadata
    n_runs = int(meta.get("n_runs", 1))
    undefined = int(meta.get("n_undefined", 0))
    outputs = (f"{len(evaluation.r) - undefined:,} of {len(evaluation.r):,} outputs ({undefined:,} constant, no r)"
               if undefined else f"each of {len(evaluation.r):,} outputs")
    lines = [f"**Mean r {evaluation.mean_r:.3f}** (median {evaluation.median_r:.3f}): Pearson r over "
             f"{evaluation.n_timepoints} time points for {outputs}, against "
             f"{n_runs} measured run{'s' * (n_runs != 1)}; lag {evaluation.lag_s:+g} s"
             + (" (best of the lags searched)." if evaluation.lag_curve is not None else ".")]
    if evaluation.noise_ceiling is not None:
        lines.append(f"Noise ceiling (split-half, Spearman-Brown): mean {evaluation.mean_noise_ceiling:.3f}; mean r / "
                     f"mean ceiling **{evaluation.mean_r_over_ceiling:.3f}**.")
    best = evaluation.best_regions(N_BEST)
    if best:
        lines.append("Best regions: " + ", ".join(f"{name} {r:.2f}" for name, r, _ in best) + ".")
    lines.append(f"*Time alignment:* {evaluation.alignment}")
    return "\n\n".join(lines)


def evaluate_kept(service: AppService, prediction_id: str, files: Sequence[str] | str | None, run: str | None = None,
                  tr_s: float | None = None, lag_search: bool = False) -> EvaluationResult:
    """Score a kept prediction against uploaded measured runs; write its r map payload and eval.npz.

    Parameters
    ----------
    service : AppService
        The page's service (its engine scores; its folders keep the files).
    prediction_id : str
        As returned by ``predict``.
    files : sequence of str
        Measured runs (see :func:`nforge_app.analysis.read_runs`: two GIfTI hemisphere files make one run;
        several runs are repeats of the stimulus).
    run : str, optional
        The run's name in HDF5 files with several runs.
    tr_s : float, optional
        TR of the measured data, when the files do not say it (0 or None: unknown).
    lag_search : bool
        Try lags from -5 to +10 s.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    UserInputError
        No file, an unknown prediction id, or anything :func:`nforge_app.analysis.evaluate` refuses.
    """
    files = [files] if isinstance(files, str) else [str(f) for f in files or ()]
    if not files:
        raise UserInputError(f"no measured data yet: upload a run ({' '.join(MEASURED_SUFFIXES)}), two .func.gii files for "
                             "the two hemispheres, or several runs of the same stimulus")
    prediction, facts = service.load(prediction_id)
    evaluation = service.engine.evaluate(prediction, files, run=(run or "").strip() or None,
                                         tr_s=float(tr_s) if tr_s else None, roi=facts.get("roi") or None,
                                         lag_search=bool(lag_search))
    digest = hashlib.sha256(np.ascontiguousarray(evaluation.r).tobytes() + evaluation.alignment.encode())
    key = f"{prediction_id}-r-{digest.hexdigest()[:12]}"
    payload_path = service.ui_dir / "payloads" / f"{key}-{geometry_recipe()[:12]}.bin"
    if not payload_path.exists():
        payload = evaluation_payload(evaluation, get_space(evaluation.space_id, service.settings), load_fsaverage5())
        with atomic_path(payload_path) as tmp:
            tmp.write_bytes(payload)
    title = facts.get("title") or "prediction"
    file = Path(save_evaluation(evaluation, service.ui_dir / "exports" / prediction_id / f"{title}.eval.npz"))
    viewer_value = json.dumps({"geometry": service.geometry_url(), "payload": file_url(payload_path),
                               "title": f"r map · {title} · {prediction.model_id}", "prediction_id": prediction_id})
    return EvaluationResult(viewer_value, summary_markdown(evaluation), file, evaluation)


def prediction_view(service: AppService, prediction_id: str) -> str:
    """The viewer's value of a kept prediction again (after its r map was shown)."""
    prediction, facts = service.load(prediction_id)
    return service.keep(prediction, facts.get("roi") or [], facts.get("stimulus_path"),
                        facts.get("title") or "prediction").viewer_value


def evaluate_section(service: AppService, viewer, prediction_id) -> None:
    """Add the Evaluate accordion to the page being built, wired to the ``viewer`` and the ``prediction_id`` box."""
    from nforge_app.ui._gradio import import_gradio

    gr = import_gradio()

    def run_evaluation(prediction_id, files, run, tr_s, lag_search):
        """Score the prediction on show against measured fMRI; returns the viewer's value (r map), a summary
        and the eval.npz."""
        try:
            result = evaluate_kept(service, prediction_id, files, run, tr_s, lag_search)
        except UserInputError as error:
            gr.Warning(str(error))
            return gr.skip(), f"**Could not evaluate.** {error}", None, gr.update(visible=False)
        return result.viewer_value, result.summary, str(result.file), gr.update(visible=True)

    def show_prediction(prediction_id):
        try:
            return prediction_view(service, prediction_id), gr.update(visible=False)
        except UserInputError as error:
            gr.Warning(str(error))
            return gr.skip(), gr.skip()

    with gr.Accordion("Evaluate against measured fMRI", open=False):
        gr.Markdown("Upload measured responses to the **same stimulus** as the prediction on show: Pearson r over "
                    "time per vertex or parcel, as TRIBE v2 and Algonauts 2025 score it, drawn as a map. Formats: "
                    ".npz (`data` time x outputs, `tr_s`), .npy, .csv/.tsv, .h5 (Algonauts 2025), or two .func.gii "
                    "files (left and right hemisphere). Several runs of the stimulus: r against their average, "
                    "with a noise ceiling.")
        files = gr.File(label="Measured runs", file_count="multiple", file_types=list(MEASURED_SUFFIXES),
                        type="filepath", elem_id="nforge-evaluate-files")
        with gr.Row():
            run = gr.Textbox(label="Run in the .h5 file", placeholder="e.g. s01e01a", max_lines=1, scale=2)
            tr_s = gr.Number(label="Measured TR (s); 0: as the files say", value=0, minimum=0, scale=2)
            lag_search = gr.Checkbox(label="Search the lag (−5…+10 s)", value=False, scale=1)
        button = gr.Button("Evaluate")
        summary = gr.Markdown(label="evaluation")
        back = gr.Button("Show the prediction again", visible=False, size="sm")
        download = gr.File(label="eval.npz", interactive=False, height=70)
    button.click(run_evaluation, inputs=[prediction_id, files, run, tr_s, lag_search],
                 outputs=[viewer, summary, download, back], api_name="evaluate", concurrency_limit=2)
    back.click(show_prediction, inputs=prediction_id, outputs=[viewer, back], api_visibility="private")
