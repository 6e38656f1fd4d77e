"""What the Adapt tab asks for, without gradio: fit a subject on uploaded runs, draw its held-out r map, and the
subject menu's choices (a model's own subjects, then the adapted ones, marked so)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nforge_app._files import atomic_path
from nforge_app.analysis import AdaptedSubject, adapt, adapted_names
from nforge_app.config import Settings
from nforge_app.errors import UserInputError
from nforge_app.export import save_evaluation
from nforge_app.spaces import get_space, load_fsaverage5
from nforge_app.ui._service import AppService, file_url, geometry_recipe
from nforge_app.ui._texts import escape_markdown
from nforge_app.values import ModelCard
from nforge_app.viz import evaluation_payload

ADAPTED = " (adapted)"


def subject_choices(card: ModelCard, settings: Settings) -> list[tuple[str, str]]:
    """``(label, value)`` of the subject menu: the model's subjects, then its adapted ones marked "(adapted)"."""
    return [(str(s), str(s)) for s in card.subjects] + [(name + ADAPTED, name)
                                                        for name in adapted_names(settings, card.model_id)]


@dataclass(frozen=True)
class AdaptView:
    """A fitted subject on the page: the viewer's value (its held-out r map), a summary and the report file."""

    viewer_value: str
    summary: str
    file: Path
    subject: AdaptedSubject


def adapt_summary(subject: AdaptedSubject) -> str:
    """The subject's card in a few Markdown lines."""
    card = subject.card
    lines = [
        f"**Subject {escape_markdown(subject.name)} (adapted)** for {subject.model_id}: held-out run "
        f"{card['held_out_run']} ({escape_markdown(card['held_out_stimulus'])}), **mean r "
        f"{card['held_out_mean_r']:.3f}** (median {card['held_out_median_r']:.3f}) over {len(subject.indices):,} "
        f"outputs; the model's {escape_markdown(card['default_subject'])} subject: mean r "
        f"{card['default_subject_mean_r']:.3f}.",
        f"Trained on {', '.join(escape_markdown(s) for s in card['training_stimuli'])}: {card['n_timepoints']:,} time "
        f"points. Alphas chosen per output: median {card['alpha_median']:.3g} (from {card['alpha_range'][0]:.3g} "
        f"to {card['alpha_range'][1]:.3g}); {escape_markdown(card['solver'])}.",
    ]
    if card.get("modality_importance_r2"):
        lines.append("Held-out R² of each modality's part: " + ", ".join(
            f"{m} {v:.3f}" for m, v in card["modality_importance_r2"].items()) + ".")
    lines += [f"*Note:* {escape_markdown(note)}" for note in card.get("notes", [])]
    lines.append(f"Pick **{escape_markdown(subject.name)}{ADAPTED}** in the subject menu to predict with it.")
    return "\n\n".join(lines)


def _paths(files) -> list[str]:
    if files is None:
        return []
    return [str(getattr(f, "name", f)) for f in ([files] if isinstance(files, (str, Path)) else files)]


class AdaptService:
    """The Adapt tab's side of the engine.

    Parameters
    ----------
    service : AppService
        The page's service: its engine extracts features (cached), its folders keep maps and reports.
    """

    def __init__(self, service: AppService) -> None:
        self.service = service

    def fit(self, model_id: str, stimuli, measured, name: str, tr_s: float | None = None, replace: bool = False,
            progress: Callable[[float, str], None] | None = None) -> AdaptView:
        """Fit and save a subject from uploaded runs (stimuli and measured files paired in upload order).

        Raises
        ------
        UserInputError
            No files, or anything :func:`nforge_app.analysis.adapt` refuses.
        """
        stimuli, measured = sorted(_paths(stimuli), key=_order), sorted(_paths(measured), key=_order)
        if not stimuli or not measured:
            raise UserInputError("upload the stimulus of each run and its measured data (one file per run; they "
                                 "are paired in the order of their names)")
        subject = adapt(model_id, stimuli, measured, name=(name or "").strip(), engine=self.service.engine,
                        tr_s=float(tr_s) if tr_s else None, replace=bool(replace), progress=progress)
        evaluation = subject.evaluation
        digest = hashlib.sha256(np.ascontiguousarray(evaluation.r).tobytes() + subject.content_hash.encode())
        ui_dir = self.service.ui_dir
        payload_path = ui_dir / "payloads" / f"adapt-{digest.hexdigest()[:16]}-{geometry_recipe()[:12]}.bin"
        if not payload_path.exists():
            payload = evaluation_payload(evaluation, get_space(evaluation.space_id, self.service.settings),
                                         load_fsaverage5())
            with atomic_path(payload_path) as tmp:
                tmp.write_bytes(payload)
        file = Path(save_evaluation(evaluation, ui_dir / "exports" / "adapt" / f"{subject.name}.held-out.eval.npz"))
        viewer_value = json.dumps({"geometry": self.service.geometry_url(), "payload": file_url(payload_path),
                                   "title": f"held-out r · subject {subject.name} (adapted) · {subject.model_id}",
                                   "prediction_id": ""})
        return AdaptView(viewer_value, adapt_summary(subject), file, subject)


def _order(path: str) -> str:
    """Files are paired by the order of their names (run-1.mp4 with run-1.npz)."""
    return Path(path).name.lower()


__all__ = ["ADAPTED", "AdaptService", "AdaptView", "adapt_summary", "subject_choices"]
