"""What the page says: the intro, model descriptions, panel sentences, run summaries and error messages.

Every text that holds something the page did not write (an error message, a path, a region name, a note)
goes through :func:`escape_markdown` first: Markdown and HTML must not eat ``<NFORGE_WEIGHTS_DIR>`` or turn
``*STS*`` into italics.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from nforge_app.errors import ModelUnavailableError, UserInputError
from nforge_app.models import ModelCard, Prediction, get_card

LITE = "nforge-lite"
INTRO = """# NForge
Predict how the human cortex responds to a video, a sound or a text, then scrub through time on the brain.
Pick an input on the left (or an example), a model and regions, and press **Run**."""
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]|~#])")


def escape_markdown(text: object) -> str:
    """``text`` shown as it is by a Markdown component: HTML characters and Markdown marks escaped."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(str(text), quote=False))


def model_label(model_id: str) -> tuple[str, str]:
    """The model picker's (label, value) of ``model_id``."""
    card = get_card(model_id)
    return (f"{card.name} ({model_id})" + (" — baseline, offline" if card.baseline else ""), model_id)


def model_markdown(model_id: str) -> str:
    """What the model is, what it reads and predicts, and where its weights come from."""
    card = get_card(model_id)
    warning = "⚠ **Baseline, not trained on fMRI.** " if card.baseline else ""
    return (f"{warning}{card.description}\n\n"
            f"Reads {', '.join(card.modalities)} · predicts {card.space_id} every {card.tr_s:g} s "
            f"({card.time_axis} time) · weights: {escape_markdown(card.weights)} · licence: {card.licence}")


def panel_texts(model_id: str) -> tuple[str, str]:
    """The honest sentences of the modality-attribution and ROI-attention panels for ``model_id``.

    They follow the card's ``capabilities`` (never the model's id).
    """
    card = get_card(model_id)
    if card.baseline:
        attribution = (f"**Modality attribution.** Not computed for {card.model_id}: it has no learned weights, "
                       "and each region is driven by fixed features by construction (auditory regions by sound, "
                       "language regions by words, visual regions by the picture; see the model description).")
    elif "attribution" in card.capabilities:
        attribution = ("**Modality attribution.** Not available yet for this model. It will show, for each "
                       "region, how much of the prediction comes from text, audio and video.")
    else:
        attribution = f"**Modality attribution.** {card.name} does not offer it."
    attention = ("**ROI attention.** Not available yet. It will show which moments of the stimulus each "
                 "selected region responds to most" + ("." if "attention" in card.capabilities else
                                                        ", for models with temporal attention such as TRIBE v2."))
    return attribution, attention


def summary(prediction: Prediction, card: ModelCard, roi: Sequence[str]) -> str:
    """A few Markdown lines: what was predicted, on which axis, with which caveats."""
    n_steps, n_outputs = prediction.data.shape
    unit = "vertices" if prediction.space_id == "fsaverage5" else "parcels"
    selection = ", ".join(f"`{name}`" for name in roi) if roi else "whole brain"
    lines = [f"**{card.name}** (`{card.model_id}`), subject `{prediction.subject}`: {n_steps} time steps × "
             f"{n_outputs:,} {unit} of {prediction.space_id} ({selection}).",
             f"Time axis: {prediction.time_label}; TR {prediction.tr_s:g} s."]
    if card.baseline:
        lines.append("⚠️ This is a **baseline, not trained on fMRI**: stimulus features painted on the regions "
                     "known to respond to them. Use it to learn the tool, not as a brain model.")
    stimulus = prediction.metadata.get("stimulus")
    if isinstance(stimulus, dict):
        notes = [escape_markdown(note) for note in stimulus.get("notes", []) if note]
        if notes:
            lines.append("Notes: " + "; ".join(notes) + ".")
    return "\n\n".join(lines)


def error_markdown(error: UserInputError, what: str = "run") -> str:
    """The status line of a failed run or export: the whole message, escaped, and what to do instead."""
    text = f"**Could not {what}.** {escape_markdown(error)}"
    if isinstance(error, ModelUnavailableError):
        text += (f"\n\nThe offline **{LITE}** model needs no download: press *Run with {LITE} instead* (a "
                 "baseline, not trained on fMRI).")
    return text
