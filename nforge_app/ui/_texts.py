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
from nforge_app.models import ModelCard, Prediction, get_card, get_model_class
from nforge_app.values import Evaluation

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
    """The sentences of the modality-attribution and ROI-attention panels for ``model_id`` before *Explain*.

    They follow the card's ``capabilities`` (never the model's id).
    """
    card = get_card(model_id)
    if "attribution" in card.capabilities:
        attribution = ("**Modality attribution.** Press *Explain* to split this prediction over "
                       f"{' · '.join(card.modalities)}: the brain is then coloured by what drives each point "
                       "(red text, green audio, blue video), and each region's shares are drawn over time.")
    elif len(card.modalities) == 1:
        attribution = (f"**Modality attribution.** {card.name} reads {card.modalities[0]} only: all of its "
                       "prediction comes from that one modality, so there is nothing to split.")
    else:
        attribution = f"**Modality attribution.** {card.name} does not offer it."
    if "attention" in card.capabilities:
        attention = ("**ROI attention.** Press *Explain* to see which moments of the stimulus each region "
                     "responds to at the time under the slider (a region × stimulus-time heat map).")
    else:
        attention = f"**ROI attention.** {card.name} does not offer temporal attention."
    if card.baseline and "attribution" in card.capabilities:
        attribution += (" ⚠ A baseline, not trained on fMRI: its regions are painted with fixed features, so "
                        "the split shows how it was built, not a finding about the brain.")
    return attribution, attention


def attribution_text(attribution, regions: Sequence[str]) -> str:
    """The modality-attribution panel's sentence once explained: the method (as the analysis words it), what
    absent means for the model, how exact the split is, and how to read the colours."""
    card = get_card(attribution.model_id)
    meta = attribution.metadata
    method = meta.get("method_words") or attribution.method
    if attribution.method == "integrated-gradients" and meta.get("steps"):
        method += f", {meta['steps']} steps"
    absent = meta.get("absent_modality") or get_model_class(attribution.model_id).absent_modality
    lines = [f"**Modality attribution** of `{escape_markdown(attribution.model_id)}`: {escape_markdown(method)}.",
             f"A modality is *absent* when the stimulus lacks it: {escape_markdown(absent or 'as the model says')}."]
    if meta.get("note"):
        note = escape_markdown(meta["note"]).rstrip(".") + "."
        lines.append(note[:1].upper() + note[1:])
    if attribution.method == "ablation" and "interaction_relative" in meta:
        lines.append(f"What the modalities do only together (left out): {100 * meta['interaction_relative']:.2g}% "
                     "of the prediction's range.")
    elif attribution.completeness_error > 1e-6:
        lines.append(f"The parts miss the prediction by {100 * attribution.completeness_error:.2g}% of its range "
                     "(completeness error).")
    lines.append("The brain (layer *modality attribution*): red text, green audio, blue video; the mix is the hue, "
                 "the size of the explained response the brightness. The charts: each region's shares "
                 f"({escape_markdown(', '.join(regions)) or 'none'}) of its response averaged over its outputs.")
    if card.baseline:
        lines.append("⚠ A baseline, not trained on fMRI: the split shows how its regions were painted, not a "
                     "finding about the brain.")
    return "\n\n".join(lines)


def attention_text(attention, model_id: str, asked: bool) -> str:
    """The ROI-attention panel's sentence once explained: the method and how to read the heat map."""
    card = get_card(model_id)
    if attention is None:
        return panel_texts(model_id)[1] if "attention" not in card.capabilities else (
            "**ROI attention.** No region to show: pick regions on the left and *Explain* again.")
    which = "the regions asked for" if asked else "the regions with the largest responses (pick regions to choose)"
    return (f"**ROI attention** of {which}: {escape_markdown(attention.method)}. For the time under the slider, "
            "each row shows how much of the region's response comes from each moment of the stimulus (red adds, "
            "blue takes away; a row's sizes add up to 1). Click a cell to go to that moment.")


def summary(prediction: Prediction, card: ModelCard, roi: Sequence[str]) -> str:
    """A few Markdown lines: what was predicted, on which axis, with which caveats."""
    n_steps, n_outputs = prediction.data.shape
    unit = "vertices" if prediction.space_id == "fsaverage5" else "parcels"
    lines = [f"**{card.name}** (`{card.model_id}`), subject `{prediction.subject}`: {n_steps} time steps × "
             f"{n_outputs:,} {unit} of {prediction.space_id}.",
             f"**Regions predicted:** {regions_said(roi, n_outputs, unit)}.",
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


def regions_said(roi: Sequence[str], n_outputs: int, unit: str) -> str:
    """Which regions a prediction covers, in words (for the status line)."""
    if not roi:
        return f"the whole brain (all {n_outputs:,} {unit}; the model's default)"
    return ", ".join(f"`{name}`" for name in roi) + f" ({n_outputs:,} {unit})"


REGIONS_RESET = ("New input: the regions are back to the model's default, **the whole brain**. Pick regions again "
                 "before *Run* to predict only those.")


def evaluation_summary(evaluation: Evaluation, n_best: int = 5) -> str:
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
    best = evaluation.best_regions(n_best)
    if best:
        lines.append("Best regions: " + ", ".join(f"{escape_markdown(name)} {r:.2f}" for name, r, _ in best) + ".")
    lines.append(f"*Time alignment:* {escape_markdown(evaluation.alignment)}")
    return "\n\n".join(lines)


def error_markdown(error: UserInputError, what: str = "run") -> str:
    """The status line of a failed run or export: the whole message, escaped, and what to do instead."""
    text = f"**Could not {what}.** {escape_markdown(error)}"
    if isinstance(error, ModelUnavailableError):
        text += (f"\n\nThe offline **{LITE}** model needs no download: press *Run with {LITE} instead* (a "
                 "baseline, not trained on fMRI).")
    return text


def files_ready(files: Sequence, notes: Sequence[str]) -> str:
    """The status line of an export: how many files are ready, and each note (escaped)."""
    lines = [f"{len(files)} file{'s' * (len(files) != 1)} ready."]
    lines += [f"⚠️ {escape_markdown(note)}" for note in notes]
    return "\n\n".join(lines)


COMPARE_INTRO = """### In-silico experiment
Ask the model an experimental question, as a scanner study would: press a teaching example, or drop the
stimuli of two conditions (each file is one block; they are played in a random order with rests of silence and
a grey screen between them), or one stimulus with a BIDS `events.tsv`. The sequence is predicted once by the
model chosen on the left (its regions, if any, are the outputs tested), a first-level GLM (nilearn) is fitted
to the predicted series and the contrast is tested by relabelling the blocks or events. The map appears in the
viewer above."""


def contrast_summary(result, n_passing: int, what: str) -> str:
    """A few Markdown lines on an in-silico experiment: the design, what passes, what p means, the GLM.

    Parameters
    ----------
    result : ContrastMap
        The experiment.
    n_passing : int
        How many outputs pass the threshold ``what`` (``"p < 0.05"``).
    """
    meta = result.metadata
    unit = "vertices" if result.space_id == "fsaverage5" else "parcels"
    kind = "blocks" if "block_design" in meta else "events"
    lines = [f"**{escape_markdown(result.contrast)}** predicted by `{escape_markdown(result.model_id)}`: "
             f"{result.n_a} + {result.n_b} {kind}. {n_passing:,} of {len(result.indices):,} {unit} pass "
             f"{escape_markdown(what)} (the viewer's own threshold slider hides small values among them; set it "
             "to 0 to see them all).",
             f"p values: {escape_markdown(meta.get('permutation', ''))}. A prediction has no scanner noise, so p "
             "says how special the true labelling is among the relabellings; in a noise-free series every output "
             "one feature drives gets the same |t|, however weakly: the effect says how much.",
             f"GLM: nilearn design ({escape_markdown(meta.get('hrf_model'))} HRF, "
             f"{escape_markdown(meta.get('drift_model'))} drifts), OLS. "
             f"{escape_markdown(meta.get('time_axis_handling', ''))}."]
    if meta.get("baseline") or get_card(result.model_id).baseline:
        lines.append(f"⚠️ `{escape_markdown(result.model_id)}` is a **baseline, not trained on fMRI**: its regions respond to the features "
                     "painted on them by construction.")
    return "\n\n".join(lines)
