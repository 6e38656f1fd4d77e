"""The ``nforge`` command line: predict, batch, export, evaluate, list models, describe a saved prediction,
evaluation or batch, run in-silico experiments (``contrast``, ``glm``), fit and manage adapted subjects
(``adapt``, ``subjects``).

User errors print one line on stderr and exit with code 2; there is never a traceback for them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from nforge_app._version import __version__
from nforge_app.checks import check_in
from nforge_app.errors import UserInputError

EXIT_USER_ERROR = 2
DEVICES = ("auto", "cpu", "cuda")
# What `nforge predict --out` writes, by the suffix of its path (a GIfTI pair is <base>_hemi-L/R.func.gii).
OUT_SUFFIXES = {".npz": "npz", ".gif": "gif", ".mp4": "mp4", ".csv": "csv", ".json": "json", ".gii": "gifti"}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nforge", description="Predict human brain (fMRI) responses to video, audio and text.")
    parser.add_argument("--version", action="version", version=f"nforge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser("predict", help="predict brain activity for a stimulus file",
                                  description="Predict brain activity for a video, audio, text or transcript file.")
    predict.add_argument("stimulus", help="video (.mp4 .avi .mkv .mov .webm), audio (.wav .mp3 .flac .ogg .m4a), "
                                          "text (.txt) or transcript (.srt .vtt .tsv)")
    predict.add_argument("--model", default="nforge-lite", help="model id or BERG alias (default: nforge-lite; "
                                                                "see `nforge models`)")
    predict.add_argument("--subject", default=None, help="subject (default: the model's default)")
    predict.add_argument("--roi", nargs="+", default=None, metavar="NAME",
                         help="regions to keep: names, wildcards (V*, *STS*) or network names (Vis, Default, ...)")
    predict.add_argument("--mask", default=None, metavar="MASK.npy", help="binary mask over the outputs (.npy)")
    predict.add_argument("--variant", default=None, help="weight variant (hub repo id or local folder)")
    predict.add_argument("--per-tr", action="store_true",
                         help="read a .txt file as one line of text per TR (instead of running text)")
    predict.add_argument("--tr", type=float, default=None, help="TR in seconds for --per-tr (default: the model's)")
    predict.add_argument("--device", default=None, help=f"where to run: {', '.join(DEVICES)} (default: auto)")
    predict.add_argument("--out", default=None, metavar="PATH",
                         help="where to save the prediction (default: <stimulus name>.<model>.npz); its suffix "
                              "says the format: .npz, .gif, .mp4 (with the stimulus' sound), .csv (region means), "
                              ".json (metadata) or .gii (a pair of GIfTI files); see `nforge export` for more")
    predict.add_argument("--quiet", action="store_true", help="no progress report")
    predict.add_argument("--precision", default=None, choices=("fp32", "bf16", "int8", "fast"),
                         help="tribe-v2 encoder precision: fp32 (exact, default; or NFORGE_TRIBE_PRECISION), "
                              "bf16 or int8 (faster, not exact: see the README), fast (the best of these here)")
    predict.add_argument("--modalities", nargs="+", default=None, choices=("text", "audio", "video"),
                         help="tribe-v2: run only these (e.g. audio text for a video on a CPU: video features "
                              "take hours there); the others are absent")
    predict.add_argument("--estimate", action="store_true",
                         help="tribe-v2: say how long the run would take on this machine, and stop")

    _add_batch_parser(commands)
    _add_attribute_parser(commands)

    commands.add_parser("models", help="list the models, their inputs, outputs and weights")

    example = commands.add_parser("example", help="write a 20-s example clip (speech, colour, motion) to try")
    example.add_argument("folder", nargs="?", default=".", help="where to write it (default: here)")

    info = commands.add_parser("info", help="describe a saved prediction or evaluation (.npz) or a batch's output "
                                            "folder")
    info.add_argument("path", help="a .npz written by `nforge predict` or `nforge evaluate`, or the DIR of "
                                   "`nforge batch`")

    _add_export_parser(commands)

    evaluate = commands.add_parser(
        "evaluate", help="score a saved prediction against measured fMRI (Pearson r per output)",
        description="Score a prediction against measured fMRI of the same stimulus: Pearson r over time per "
                    "output, as TRIBE v2 and the Algonauts 2025 ranking score it, after a stated time alignment.")
    evaluate.add_argument("prediction", help="a .npz written by `nforge predict`")
    evaluate.add_argument("measured", metavar="MEASURED",
                          help="measured fMRI: .npz (data (T, V), optional tr_s), .npy, .csv/.tsv (T x outputs), "
                               ".h5 (Algonauts 2025 runs), or the left hemisphere's .func.gii")
    evaluate.add_argument("measured_rh", nargs="?", metavar="MEASURED_RH",
                          help="the right hemisphere's .func.gii (with a left one)")
    evaluate.add_argument("--repeat", nargs="+", default=[], metavar="RUN",
                          help="more runs of the same stimulus (same formats): r against their average, and a "
                               "noise ceiling")
    evaluate.add_argument("--run", default=None, help="the run's name in .h5 files that hold several (a unique "
                                                      "part of it is enough, e.g. s01e01a)")
    evaluate.add_argument("--roi", nargs="+", default=None, metavar="NAME",
                          help="regions to summarise (names, wildcards, networks; default: every region)")
    evaluate.add_argument("--tr", type=float, default=None,
                          help="TR of the measured data in seconds, when the files do not say it")
    evaluate.add_argument("--lag-search", action="store_true",
                          help="try lags from -5 to +10 s and keep the best one (reported)")
    evaluate.add_argument("--out", default=None, metavar="EVAL.npz",
                          help="where to save the evaluation (default: <prediction name>.eval.npz)")
    _add_experiment_commands(commands)
    _add_adapt_commands(commands)
    return parser


def _add_attribute_parser(commands) -> None:
    from nforge_app.values import ATTRIBUTION_METHODS

    attribute = commands.add_parser(
        "attribute", help="which modality (text, audio, video) drove each region, and when",
        description="Split a prediction over its input modalities (a modality removed is absent, as the model "
                    "defines it), and with --roi, say which stimulus moments drove each region (ROI temporal "
                    "attention). Writes modalities, scores (M, T, V), baseline (T, V: all absent; scores.sum(0) + "
                    "baseline is the prediction), times_s, indices, method, and with --roi roi_names, attention "
                    "(R, T_out, T_in), stimulus_times_s.")
    attribute.add_argument("stimulus", help="video, audio, text or transcript file, as for predict")
    attribute.add_argument("--model", default="nforge-lite", help="model id or BERG alias (default: nforge-lite)")
    attribute.add_argument("--method", default=None, choices=ATTRIBUTION_METHODS,
                           help="shapley (exact, default), integrated-gradients or ablation (quick; the "
                                "interaction is reported)")
    attribute.add_argument("--steps", default=32, metavar="N",
                           help="points of the integrated-gradients path, 2 to 512 (default: 32)")
    attribute.add_argument("--roi", nargs="+", default=None, metavar="NAME",
                           help="regions: the outputs explained, and one row each of the ROI temporal attention "
                                "(for a single-modality model such as text2fmri: the attention alone)")
    attribute.add_argument("--mask", default=None, metavar="MASK.npy", help="binary mask over the outputs (.npy)")
    attribute.add_argument("--subject", default=None, help="subject (default: the model's default)")
    attribute.add_argument("--variant", default=None, help="weight variant (hub repo id or local folder)")
    attribute.add_argument("--modalities", nargs="+", default=None, choices=("text", "audio", "video"),
                           help="use only these of the modalities the stimulus has (the others absent)")
    attribute.add_argument("--device", default=None, help=f"where to run: {', '.join(DEVICES)} (default: auto)")
    attribute.add_argument("--out", default=None, metavar="PATH",
                           help="where to save it (default: <stimulus name>.<model>.attr.npz); its suffix says "
                                "the format: .npz, .png (the RGB map of the run: R text, G audio, B video), .gif "
                                "(one RGB frame per time step) or .csv (each region's modality shares over time)")
    attribute.add_argument("--quiet", action="store_true", help="no progress report")


def _add_batch_parser(commands) -> None:
    batch = commands.add_parser(
        "batch", help="predict many stimuli (a folder or a manifest) into one folder, resumably",
        description="Predict brain activity for every stimulus of a folder (recursively, by extension) or of a "
                    "manifest (.csv .tsv .jsonl: path, optional transcript, id, subject) into DIR: one .npz per "
                    "stimulus, named by its content hash and the prediction key, so a rerun skips what is done; "
                    "DIR/batch_report.csv and DIR/batch_summary.json say what happened.")
    batch.add_argument("input", help="a folder of stimuli, or a manifest (.csv .tsv .jsonl)")
    batch.add_argument("--out", required=True, metavar="DIR",
                       help="output folder (made when missing), or a URL such as s3://bucket/run (fsspec)")
    batch.add_argument("--model", default="nforge-lite", help="model id or BERG alias (default: nforge-lite)")
    batch.add_argument("--subject", default=None, help="subject of rows without one (default: the model's default)")
    batch.add_argument("--roi", nargs="+", default=None, metavar="NAME", help="regions to keep, as for predict")
    batch.add_argument("--variant", default=None, help="weight variant (hub repo id or local folder)")
    batch.add_argument("--engine", default="local", choices=("local", "ray"),
                       help="local: one process, the model loaded once (default); ray: a pool of Ray actors")
    batch.add_argument("--address", default=None, help="Ray cluster address (what `ray start --head` prints); "
                                                        "a local Ray cluster when left out")
    batch.add_argument("--workers", type=int, default=None, help="Ray actors, each with the model loaded "
                                                                 "(default: as many as the cluster's GPUs or CPUs)")
    batch.add_argument("--cpus-per-worker", type=float, default=1, metavar="C",
                       help="CPUs of each Ray actor, its torch threads (default: 1)")
    batch.add_argument("--gpus-per-worker", type=float, default=0, metavar="G",
                       help="GPUs of each Ray actor (default: 0; 0.5 puts two actors on a GPU)")
    batch.add_argument("--strict", action="store_true", help="refuse manifest paths outside the manifest's folder")
    batch.add_argument("--device", default=None,
                       help=f"where the local engine runs: {', '.join(DEVICES)} (default: auto)")
    batch.add_argument("--attribute", default=None, metavar="METHOD",
                       help="also write each stimulus' modality attribution (shapley, integrated-gradients or "
                            "ablation) as <output name>.attr.npz beside its prediction")
    batch.add_argument("--quiet", action="store_true", help="no progress report")


def _add_export_parser(commands) -> None:
    from nforge_app.export import DEFAULT_EXPORT_FORMATS, EXPORT_FORMATS
    from nforge_app.viz import (
        DEFAULT_VIEWS,
        PICTURES,
        SURFACE_VIEWS,
        VIEW_GROUPS,
        VIEW_LETTERS,
        VIEWER_COLORMAPS,
    )

    export = commands.add_parser(
        "export", help="write a saved prediction as GIF, MP4, GIfTI, CSV, JSON or npz",
        description="Write a saved prediction (.npz) in other formats: the same files as the web page's Export.")
    export.add_argument("path", metavar="PRED.npz", help="a .npz written by `nforge predict`")
    export.add_argument("--format", nargs="+", default=None, metavar="FORMAT",
                        help=f"any of {', '.join(EXPORT_FORMATS)} (default: {' '.join(DEFAULT_EXPORT_FORMATS)}); "
                             "of an attribution (nforge attribute): npz, png, gif, csv (default: png gif csv)")
    export.add_argument("--out", default=None, metavar="DIR_OR_BASE",
                        help="a folder (existing, or ending in /) to write <name>.<format> into, or a path "
                             "without suffix (default: beside PRED.npz, under its name)")
    export.add_argument("--picture", default="surface", metavar="PICTURE",
                        help=f"what GIF and MP4 frames show: {' or '.join(PICTURES)} (default: surface)")
    export.add_argument("--view", nargs="+", default=None, metavar="VIEW",
                        help=f"surface views: {', '.join(list(SURFACE_VIEWS) + list(VIEW_GROUPS))} (default: "
                             f"{' '.join(DEFAULT_VIEWS)}); glass brain views: letters of {VIEW_LETTERS} "
                             "(x sagittal, l/r left/right hemisphere, y coronal, z axial; default: l y r z)")
    export.add_argument("--surface", default="inflated", help="pial, half-inflated or inflated (default: inflated)")
    export.add_argument("--colors", default="symmetric", metavar="SCALE",
                        help=f"colour scale: {' or '.join(VIEWER_COLORMAPS)} (default: symmetric)")
    export.add_argument("--threshold", type=float, default=20.0, metavar="PCT",
                        help="values under this %% of the robust maximum show the anatomy (default: 20)")
    export.add_argument("--size", type=int, default=400, metavar="PX", help="size of each view (default: 400)")
    export.add_argument("--roi", nargs="+", default=None, metavar="NAME",
                        help="regions of the CSV (default: every region with a selected output)")
    export.add_argument("--audio", default=None, metavar="STIMULUS",
                        help="the stimulus file, whose sound the MP4 carries (text is spoken again); without "
                             "it the MP4 is silent")
    export.add_argument("--title", default=None, help="title of the pictures (default: stimulus · model)")


def _add_experiment_commands(commands) -> None:
    """``nforge contrast`` (block design, A vs B) and ``nforge glm`` (events of one stimulus)."""
    contrast = commands.add_parser(
        "contrast", help="block experiment: condition A vs B on the predicted brain (first-level GLM)",
        description="Play the stimuli of A and B as blocks (seeded random order, rests of silence and a grey "
                    "screen) in one sequence, predict it once, fit a first-level GLM (nilearn) and test A - B by "
                    "relabelling the blocks (max-|t| correction over outputs).")
    contrast.add_argument("--a", nargs="+", required=True, metavar="FILE", help="stimuli of condition A, one block each")
    contrast.add_argument("--b", nargs="+", required=True, metavar="FILE", help="stimuli of condition B, one block each")
    contrast.add_argument("--names", nargs=2, default=("A", "B"), metavar=("A", "B"),
                          help="names of the two conditions (default: A B)")
    contrast.add_argument("--block-s", type=float, default=None, help="cut longer stimuli at this many seconds "
                                                                      "(default: each plays whole)")
    contrast.add_argument("--rest-s", type=float, default=12.0, help="rest before, between and after blocks "
                                                                     "(default: 12 s)")
    glm = commands.add_parser(
        "glm", help="event design: a GLM of a stimulus' events (BIDS events.tsv) on its predicted brain",
        description="Predict the stimulus once, fit a first-level GLM of its events (nilearn) and test a contrast "
                    "by relabelling the events of the contrasted conditions (max-|t| correction over outputs).")
    glm.add_argument("stimulus", help="the stimulus the events belong to (video, audio, text or transcript)")
    glm.add_argument("--events", required=True, metavar="EVENTS.tsv",
                     help="BIDS events: tab-separated onset, duration, trial_type (optional modulation)")
    glm.add_argument("--contrast", required=True, help='as nilearn writes contrasts, e.g. "speech - music"')
    for command in (contrast, glm):
        command.add_argument("--model", default="nforge-lite", help="model id or BERG alias (default: nforge-lite)")
        command.add_argument("--subject", default=None, help="subject (default: the model's default)")
        command.add_argument("--roi", nargs="+", default=None, metavar="NAME",
                             help="outputs to test (the correction covers these only); default: all")
        command.add_argument("--seed", type=int, default=0, help="seed of the block order and random relabellings")
        command.add_argument("--permutations", type=int, default=1000,
                             help="most relabellings (all distinct ones when fewer; default: 1000)")
        command.add_argument("--device", default=None, help=f"where to run: {', '.join(DEVICES)} (default: auto)")
        command.add_argument("--out", default=None, metavar="RESULT.npz", help="where to save the result")
        command.add_argument("--quiet", action="store_true", help="no progress report")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _build_parser().parse_args(argv)
    try:
        return {"predict": _predict, "batch": _batch, "attribute": _attribute, "models": _models, "info": _info, "example": _example,
                "export": _export, "evaluate": _evaluate, "contrast": _experiment, "glm": _experiment,
                "adapt": _adapt, "subjects": _subjects}[args.command](args)
    except UserInputError as error:
        print(f"nforge: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("nforge: interrupted", file=sys.stderr)
        return 130


def _suffix(path: Path) -> str:
    """The export suffix of a file name (``.func.gii`` counts as one), as written."""
    return path.name[-len(".func.gii"):] if path.name.lower().endswith(".func.gii") else path.suffix


def _out_format(out: str | None) -> tuple[str, Path | None]:
    """The format ``nforge predict --out`` asks for (by suffix) and the base path of the export."""
    if out is None:
        return "npz", None
    path = Path(out)
    suffix = _suffix(path)
    fmt = OUT_SUFFIXES[check_in("--out suffix", ".gii" if suffix.lower() == ".func.gii" else suffix.lower(),
                                tuple(OUT_SUFFIXES))]
    return fmt, path.with_name(path.name[:-len(suffix)])


def _predict(args) -> int:
    from nforge_app.engine import Engine
    from nforge_app.progress import stderr_progress

    fmt, base = _out_format(args.out)  # refused before any work
    if args.out and Path(args.out).resolve() == Path(args.stimulus).resolve():
        raise UserInputError(f"--out {args.out} is the stimulus itself: choose another name")
    device = check_in("device", args.device, DEVICES) if args.device else None
    engine = Engine(device=device)
    card = engine.card(args.model)
    stimulus = args.stimulus
    if args.per_tr:
        path = Path(stimulus)
        try:
            stimulus = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UserInputError(f"cannot read {path} as UTF-8 text for --per-tr: {error}") from None
    mask = _read_mask(args.mask) if args.mask else None
    tribe_options = {key: value for key, value in (("precision", args.precision), ("modalities", args.modalities))
                     if value}
    if card.model_id == "tribe-v2" and not args.per_tr:
        from nforge_app.models._tribe_estimate import estimate_for_file

        said = estimate_for_file(stimulus, args.modalities, engine.device, engine.settings).sentence()
        if args.estimate:
            print(said)
            return 0
        if not args.quiet:
            print(said, file=sys.stderr)
    elif args.estimate:
        raise UserInputError("--estimate is for tribe-v2 (the other models take seconds)")
    with stderr_progress(enabled=not args.quiet) as progress:
        prediction = engine.predict(stimulus, args.model, subject=args.subject, roi=args.roi, mask=mask,
                                    variant=args.variant, tr_s=args.tr, progress=progress,
                                    **tribe_options)
    base = base or Path(f"{Path(args.stimulus).stem}.{card.model_id}")
    files = _write(prediction, [fmt], base, None if args.per_tr else args.stimulus, engine.settings,
                   roi=args.roi or None)
    print(_describe(prediction))
    for path in files:
        print(f"saved: {path}")
    return 0


ATTRIBUTE_SUFFIXES = {".npz": "npz", ".png": "png", ".gif": "gif", ".csv": "csv"}


def _attribute(args) -> int:
    from nforge_app.checks import check_range
    from nforge_app.engine import Engine
    from nforge_app.export import export_attribution
    from nforge_app.progress import stderr_progress

    out = Path(args.out) if args.out else None
    fmt = ATTRIBUTE_SUFFIXES[check_in("--out suffix", out.suffix.lower(), tuple(ATTRIBUTE_SUFFIXES))] if out else "npz"
    if out is not None and out.resolve() == Path(args.stimulus).resolve():
        raise UserInputError(f"--out {args.out} is the stimulus itself: choose another name")
    steps = check_range("--steps", args.steps, 2, 512, integer=True)
    device = check_in("device", args.device, DEVICES) if args.device else None
    engine = Engine(device=device)
    card = engine.card(args.model)
    mask = _read_mask(args.mask) if args.mask else None
    if len(card.modalities) < 2 and args.roi:
        return _attend_only(args, engine, card, out, fmt)
    with stderr_progress(enabled=not args.quiet) as progress:
        attribution = engine.attribute(args.stimulus, args.model, subject=args.subject, roi=args.roi, mask=mask,
                                       method=args.method, steps=steps, progress=progress, variant=args.variant,
                                       modalities=args.modalities)
    base = (out.with_suffix("") if out is not None
            else Path(f"{Path(args.stimulus).stem}.{card.model_id}.attr"))
    files, notes = export_attribution(attribution, [fmt], base, roi=args.roi, settings=engine.settings)
    for note in notes:
        print(f"nforge: note: {note}", file=sys.stderr)
    print(_describe_attribution(attribution))
    for path in files:
        print(f"saved: {path}")
    return 0


def _attend_only(args, engine, card, out: Path | None, fmt: str) -> int:
    """``nforge attribute`` of a single-modality model with ``--roi``: its ROI temporal attention alone (nothing to
    split over modalities), written as an ROI-attention npz."""
    from nforge_app.analysis._attribution import single_modality_sentence
    from nforge_app.export import save_roi_attention
    from nforge_app.progress import stderr_progress

    if fmt != "npz":
        raise UserInputError(f"--out {out.name}: {card.model_id} gives ROI temporal attention only, written as .npz "
                             "(there is no modality map to draw as png/gif/csv)")
    for flag, value in (("--mask", args.mask), ("--modalities", args.modalities), ("--method", args.method)):
        if value:
            raise UserInputError(f"{flag} is for the modality attribution; {single_modality_sentence(card)}")
    with stderr_progress(enabled=not args.quiet) as progress:
        attention = engine.roi_attention(args.stimulus, args.model, subject=args.subject, roi=args.roi,
                                         variant=args.variant, progress=progress)
    path = out if out is not None else Path(f"{Path(args.stimulus).stem}.{card.model_id}.attention.npz")
    save_roi_attention(attention, path)
    print(single_modality_sentence(card))
    print(_describe_roi_attention(attention))
    print(f"saved: {path}")
    return 0


def _describe_roi_attention(attention) -> str:
    """What an ROI temporal attention holds, in a few lines (``nforge attribute``, ``nforge info``)."""
    meta = attention.metadata
    lines = ["kind:       ROI temporal attention (nforge attribute --roi, single-modality model)"]
    if meta.get("model_id"):
        lines.append(f"model:      {meta['model_id']}, subject {meta.get('subject', '')}")
    lines.append(f"attention:  {len(attention.roi_names)} regions ({', '.join(attention.roi_names)}) x "
                 f"{len(attention.times_s)} output times x {len(attention.stimulus_times_s)} stimulus moments")
    lines.append(f"method:     {attention.method}")
    weight = np.abs(attention.attention).sum(axis=(0, 1))
    if weight.sum() > 0:
        top = int(np.argmax(weight))
        lines.append(f"strongest:  the stimulus moment at {attention.stimulus_times_s[top]:.2f} s "
                     f"({100 * weight[top] / weight.sum():.0f}% of the attention, over regions and output times)")
    return "\n".join(lines + _stimulus_lines(meta))


def _stimulus_lines(meta: dict) -> list[str]:
    """The ``stimulus:`` line of a description, when the metadata name the stimulus."""
    stimulus = meta.get("stimulus")
    if not stimulus:
        return []
    return [f"stimulus:   {stimulus.get('source')} ({stimulus.get('kind')}, {stimulus.get('duration_s', 0):.1f} s)"]


def _describe_attribution(attribution) -> str:
    meta = attribution.metadata
    magnitude = np.abs(attribution.scores).sum(axis=(1, 2))
    total = magnitude.sum()
    shares = ", ".join(f"{m} {100 * v / total:.0f}%" if total > 0 else f"{m} 0%"
                       for m, v in zip(attribution.modalities, magnitude, strict=True))
    error = attribution.completeness_error
    lines = [
        "kind:       modality attribution (nforge attribute)",
        f"model:      {attribution.model_id}, subject {attribution.subject}",
        f"method:     {attribution.method}: {meta.get('method_words', '')}",
        f"space:      {attribution.space_id}, {attribution.scores.shape[2]} of its outputs selected",
        f"time:       {len(attribution.times_s)} samples, TR {attribution.tr_s:g} s",
        f"shares:     {shares} (of the explained magnitude, over every output and time step)",
        "complete:   scores + baseline = prediction " + ("exactly" if error < 1e-5 else
                                                             f"up to {100 * error:.2g}% (relative)"),
        f"absent:     {meta.get('absent_modality', '')}",
    ]
    if meta.get("note"):
        lines.append(f"note:       {meta['note']}")
    if meta.get("explains"):
        lines.append(f"explains:   {meta['explains']}")
    attention = attribution.roi_attention
    if attention is not None:
        lines.append(f"attention:  {len(attention.roi_names)} regions ({', '.join(attention.roi_names)}) x "
                     f"{len(attention.times_s)} output times x {len(attention.stimulus_times_s)} stimulus moments; "
                     f"{attention.method}")
    return "\n".join(lines + _stimulus_lines(meta))


def _batch(args) -> int:
    from nforge_app.batch import SUMMARY_NAME, run

    report = run(args.input, args.out, args.model, subject=args.subject, roi=args.roi, variant=args.variant,
                 engine=args.engine, address=args.address, workers=args.workers,
                 cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker, strict=args.strict,
                 device=args.device, progress=not args.quiet, attribute=args.attribute)
    counts, seconds = report.counts, report.summary["seconds"]
    print(f"{counts['total']} stimuli: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped "
          f"(already done) in {seconds:.1f} s")
    for row in report.rows:
        if row.status == "failed":
            print(f"  failed: {row.id}: {row.error}")
    print(f"report: {args.out}/batch_report.csv and {SUMMARY_NAME}; `nforge info {args.out}` describes it")
    return 1 if counts["failed"] else 0


def _export(args) -> int:
    from nforge_app.config import Settings
    from nforge_app.export import DEFAULT_EXPORT_FORMATS, export_attribution, is_attribution_npz, load_npz

    if is_attribution_npz(args.path):
        from nforge_app.export import load_attribution

        files, notes = export_attribution(
            load_attribution(args.path), args.format or ["png", "gif", "csv"], _export_base(args.out, Path(args.path)),
            views=args.view, surface=args.surface, size_px=args.size, roi=args.roi, title=args.title,
            settings=Settings.from_env())
        for note in notes:
            print(f"nforge: note: {note}", file=sys.stderr)
        for path in files:
            print(f"wrote: {path}")
        return 0
    prediction = load_npz(args.path)
    files = _write(prediction, args.format or list(DEFAULT_EXPORT_FORMATS), _export_base(args.out, Path(args.path)), args.audio, Settings.from_env(),
                   picture=args.picture, views=args.view, surface=args.surface, color_scale=args.colors,
                   threshold_pct=args.threshold, size_px=args.size, roi=args.roi, title=args.title,
                   no_sound="no --audio given (the stimulus file); the video is silent")
    for path in files:
        print(f"wrote: {path}")
    return 0


def _export_base(out: str | None, npz: Path) -> Path:
    """Where ``nforge export`` writes: a folder (existing, or ending in a separator) or a path without suffix."""
    if out is None:
        return npz.with_suffix("")
    if out.endswith((os.sep, "/")) or Path(out).is_dir():
        return Path(out) / npz.with_suffix("").name
    path = Path(out)  # "anim.gif" names the files anim.*, as "anim" does
    suffix = _suffix(path)
    return path.with_name(path.name[:-len(suffix)]) if suffix.lower() in (*OUT_SUFFIXES, ".func.gii") else path


def _write(prediction, formats, base: Path, stimulus: str | None, settings, no_sound: str | None = None,
           **options) -> list[Path]:
    """Export ``prediction`` with the stimulus' sound in an MP4; print the notes; the files written."""
    from nforge_app.export import export_prediction
    from nforge_app.stimuli import StimulusSound, stimulus_sound

    with tempfile.TemporaryDirectory(prefix="nforge-export-") as scratch:  # a text stimulus' speech, for the MP4
        sound = StimulusSound(None, None, no_sound)
        if "mp4" in formats and (stimulus is not None or no_sound is None):
            sound = stimulus_sound(stimulus, scratch, settings)
        files, notes = export_prediction(prediction, formats, base, settings=settings, **sound._asdict(),
                                         **options)
    for note in notes:
        print(f"nforge: note: {note}", file=sys.stderr)
    if not files:
        raise UserInputError("nothing was written: " + "; ".join(notes))
    return files


def _models(args) -> int:
    from nforge_app.config import Settings
    from nforge_app.models import get_model_class, list_model_ids

    settings = Settings.from_env()
    for model_id in list_model_ids():
        model_class = get_model_class(model_id)
        card = model_class.card
        weights = model_class.weights_status(settings)
        print(f"{card.model_id}  ({card.name})" + ("  [baseline, not trained on fMRI]" if card.baseline else ""))
        if card.aliases:
            print(f"  aliases:    {', '.join(card.aliases)}")
        print(f"  inputs:     {', '.join(card.modalities)}")
        print(f"  output:     {card.space_id}, one sample every {card.tr_s:g} s, {card.time_axis} time")
        print(f"  subjects:   {', '.join(map(str, card.subjects))}")
        print(f"  weights:    {weights}")
        print(f"  licence:    {card.licence}")
    return 0


def _example(args) -> int:
    from nforge_app.stimuli import make_example_clip

    clip, transcript = make_example_clip(Path(args.folder) / "nforge_example_clip.mp4")
    print(f"wrote {clip} and its transcript {transcript.name}")
    print(f"try:  nforge predict {clip} --roi 'V*' '*STS*' A1")
    return 0


def _info(args) -> int:
    from nforge_app.export import is_evaluation_npz, load_evaluation, load_npz

    if "://" in args.path or Path(args.path).is_dir():
        from nforge_app.batch import REPORT_NAME, SUMMARY_NAME, OutputFolder, describe_batch

        folder = OutputFolder(args.path)
        summary = folder.read_text(SUMMARY_NAME)
        if summary is None:
            raise UserInputError(f"{args.path} holds no {SUMMARY_NAME}: not the output folder of `nforge batch`")
        print(describe_batch(summary, folder.read_text(REPORT_NAME), args.path))
        return 0
    from nforge_app.export import (
        is_attribution_npz,
        is_roi_attention_npz,
        load_attribution,
        load_roi_attention,
    )

    if is_attribution_npz(args.path):
        print(_describe_attribution(load_attribution(args.path)))
    elif is_roi_attention_npz(args.path):
        print(_describe_roi_attention(load_roi_attention(args.path)))
    elif is_evaluation_npz(args.path):
        print(_describe_evaluation(load_evaluation(args.path)))
    else:
        print(_describe(load_npz(args.path)))
    return 0


def _evaluate(args) -> int:
    from nforge_app.engine import Engine
    from nforge_app.export import save_evaluation

    measured = [args.measured] + ([args.measured_rh] if args.measured_rh else []) + list(args.repeat)
    evaluation = Engine().evaluate(args.prediction, measured, run=args.run,
                                   tr_s=args.tr, roi=args.roi, lag_search=args.lag_search)
    out = args.out or f"{Path(args.prediction).name.removesuffix('.npz')}.eval.npz"
    return _save_and_describe(evaluation, out, save_evaluation, _describe_evaluation)


def _save_and_describe(result, out, save, describe) -> int:
    """Save a command's result, print its description and where it went (exit code 0)."""
    save(result, out)
    print(describe(result))
    print(f"saved: {out}")
    return 0


def _describe_evaluation(evaluation, n_best: int = 8) -> str:
    meta = evaluation.metadata
    n = len(evaluation.r)
    undefined = meta.get("n_undefined", 0)
    lines = [
        f"model:      {meta.get('model_id')}, subject {meta.get('subject')}; {evaluation.space_id}, {n:,} outputs",
        f"measured:   {', '.join(meta.get('sources', []))} ({meta.get('n_runs', 1)} run"
        f"{'s' * (meta.get('n_runs', 1) != 1)}, TR {meta.get('measured_tr_s', float('nan')):g} s)",
        f"score:      mean r {evaluation.mean_r:.3f}, median r {evaluation.median_r:.3f} (Pearson r over "
        f"{evaluation.n_timepoints} time points, per output" + (f"; {undefined:,} undefined)" if undefined else ")"),
    ]
    if evaluation.noise_ceiling is not None:
        lines.append(f"ceiling:    mean {evaluation.mean_noise_ceiling:.3f} (split-half, Spearman-Brown); mean r / "
                     f"mean ceiling {evaluation.mean_r_over_ceiling:.3f}")
    lines.append(f"lag:        {evaluation.lag_s:+g} s" + (" (best of the lags searched)" if evaluation.lag_curve
                                                            is not None else " (not searched)"))
    lines.append(f"alignment:  {evaluation.alignment}")
    best = evaluation.best_regions(n_best)
    if best:
        lines.append("best regions (mean r over their outputs):")
        width = max(len(name) for name, _, _ in best)
        lines += [f"  {name:<{width}}  {r:.3f}  ({n} outputs)" for name, r, n in best]
    return "\n".join(lines)


def _describe(prediction) -> str:
    data = prediction.data
    meta = prediction.metadata
    lines = [
        f"model:      {prediction.model_id}" + ("  (baseline, not trained on fMRI)" if meta.get("baseline") else ""),
        f"subject:    {prediction.subject}",
        f"space:      {prediction.space_id}, {data.shape[1]} of its outputs selected",
        f"time:       {data.shape[0]} samples, TR {prediction.tr_s:g} s, {prediction.time_label}",
        f"values:     min {np.nanmin(data):.3g}, max {np.nanmax(data):.3g}, mean {np.nanmean(data):.3g}",
    ]
    stimulus = meta.get("stimulus")
    if stimulus:
        lines.append(f"stimulus:   {stimulus.get('source')} ({stimulus.get('kind')}, {stimulus.get('duration_s', 0):.1f} s, "
                     f"word timing: {stimulus.get('word_timing')})")
    if meta.get("note"):
        lines.append(f"note:       {meta['note']}")
    return "\n".join(lines)


def _experiment(args) -> int:
    from nforge_app.analysis import contrast, glm
    from nforge_app.engine import Engine
    from nforge_app.export import save_contrast_npz
    from nforge_app.progress import stderr_progress

    if args.out is not None and Path(args.out).suffix.lower() != ".npz":
        raise UserInputError(f"--out {args.out}: the result is saved as an .npz file (effect, t, p_corrected, "
                             "design...); name it <name>.npz")
    device = check_in("device", args.device, DEVICES) if args.device else None
    engine = Engine(device=device)
    options = dict(engine=engine, model=args.model, subject=args.subject, roi=args.roi, seed=args.seed,
                   n_permutations=args.permutations)
    with stderr_progress(enabled=not args.quiet) as progress:
        if args.command == "contrast":
            result = contrast(args.a, args.b, names=tuple(args.names), block_s=args.block_s, rest_s=args.rest_s,
                              progress=progress, **options)
        else:
            result = glm(args.stimulus, args.events, args.contrast, progress=progress, **options)
    out = args.out or f"{args.command}.{engine.card(args.model).model_id}.npz"
    return _save_and_describe(result, out, save_contrast_npz, _describe_contrast)


def _describe_contrast(result, n_regions: int = 10) -> str:
    meta = result.metadata
    unit = "vertices" if result.space_id == "fsaverage5" else "outputs"
    passing = int(result.passing(p_below=0.05).sum())
    kind = "blocks" if "block_design" in meta else "events"
    lines = [
        f"model:        {result.model_id}" + ("  (baseline, not trained on fMRI)" if meta.get("baseline") else ""),
        f"contrast:     {result.contrast}  ({result.n_a} + {result.n_b} {kind}; conditions "
        f"{', '.join(result.conditions)})",
        f"time axis:    {meta['time_axis_handling']}",
        f"GLM:          nilearn design ({meta['hrf_model']} HRF, {meta['drift_model']} drifts, high-pass "
        f"{meta['high_pass_hz']:g} Hz), {meta['noise_model'].upper()} fit",
        f"p values:     {meta['permutation']}",
        f"              ({meta['p_meaning']})",
        f"outputs:      {len(result.indices):,} {unit} of {result.space_id}; {passing:,} with p_corrected < 0.05",
        f"top regions:  {'region':<10} {'effect':>9} {'t':>9} {'p':>7}",
    ]
    for region, effect, t, p in result.region_rows()[:n_regions]:
        lines.append(f"              {region:<10} {effect:>9.3g} {t:>9.3g} {p:>7.3g}")
    return "\n".join(lines)


def _add_adapt_commands(commands) -> None:
    """``nforge adapt`` (fit a subject on measured runs) and ``nforge subjects list|delete``."""
    adapt = commands.add_parser(
        "adapt", help="fit your own subject: a ridge readout of a model's hidden features to your measured runs",
        description="Fit a subject to measured fMRI: the model's hidden features of each stimulus, aligned to its "
                    "measured run, mapped to every output by ridge regression with the regularisation "
                    "cross-validated by run; one run is left out and its held-out r printed. The subject is saved "
                    "under the cache (NFORGE_CACHE_DIR/subjects), then: nforge predict X --model M --subject NAME.")
    adapt.add_argument("--model", default="nforge-lite", help="model id or BERG alias (default: nforge-lite)")
    adapt.add_argument("--stimuli", nargs="+", required=True, metavar="FILE", help="the stimulus of each run")
    adapt.add_argument("--measured", nargs="+", required=True, metavar="RUN",
                       help="one measured run per stimulus, in the same order: .npz (data (T, V), tr_s), .npy, "
                            ".csv/.tsv, .h5, or an lh.func.gii,rh.func.gii pair joined by a comma")
    adapt.add_argument("--name", required=True, help="the subject's name (letters, digits, _ and -)")
    adapt.add_argument("--roi", nargs="+", default=None, metavar="NAME", help="fit these outputs only")
    adapt.add_argument("--tr", type=float, default=None, help="TR of measured data that do not give it")
    adapt.add_argument("--test-run", type=int, default=None, metavar="N",
                       help="the run left out for the held-out r, from 1 (default: the last)")
    adapt.add_argument("--banded", action="store_true",
                       help="one ridge band per modality (himalaya BandedRidgeCV; slower)")
    adapt.add_argument("--replace", action="store_true", help="replace a saved subject of the same name")
    adapt.add_argument("--variant", default=None, help="weight variant (hub repo id or local folder)")
    adapt.add_argument("--device", default=None, help=f"where to run: {', '.join(DEVICES)} (default: auto)")
    adapt.add_argument("--out", default=None, metavar="REPORT.npz",
                       help="also save the held-out evaluation (r per output; `nforge info` reads it)")
    adapt.add_argument("--quiet", action="store_true", help="no progress report")
    subjects = commands.add_parser("subjects", help="list or delete adapted subjects",
                                   description="The subjects fitted with `nforge adapt`: list them, or delete one.")
    subjects.add_argument("action", nargs="?", default="list", choices=("list", "delete"))
    subjects.add_argument("name", nargs="?", default=None, help="the subject to delete")
    subjects.add_argument("--model", default=None, help="the model, where several have a subject of that name")


def _adapt(args) -> int:
    from nforge_app.analysis import adapt
    from nforge_app.engine import Engine
    from nforge_app.export import save_evaluation
    from nforge_app.progress import stderr_progress

    if args.out is not None and Path(args.out).suffix.lower() != ".npz":
        raise UserInputError(f"--out {args.out}: the report is saved as an .npz file; name it <name>.npz")
    device = check_in("device", args.device, DEVICES) if args.device else None
    engine = Engine(device=device)
    measured = [tuple(item.split(",")) if "," in item else item for item in args.measured]
    with stderr_progress(enabled=not args.quiet) as progress:
        subject = adapt(args.model, args.stimuli, measured, name=args.name, engine=engine, variant=args.variant,
                        roi=args.roi, tr_s=args.tr, test_run=-1 if args.test_run is None else args.test_run - 1,
                        banded=args.banded, replace=args.replace, progress=progress)
    if args.out:
        save_evaluation(subject.evaluation, args.out)
    print(describe_subject(subject.full_card))
    best = subject.evaluation.best_regions(5)
    if best:
        print("best regions (held-out mean r):")
        width = max(len(name) for name, _, _ in best)
        print("\n".join(f"  {name:<{width}}  {r:.3f}  ({n} outputs)" for name, r, n in best))
    if args.out:
        print(f"saved: {args.out}")
    print(f"try:  nforge predict STIMULUS --model {subject.model_id} --subject {subject.name}")
    return 0


def describe_subject(card: dict) -> str:
    """An adapted subject's card, in lines (``nforge adapt`` and ``nforge subjects list``)."""
    runs = card.get("n_timepoints_per_run", [])
    importance = card.get("modality_importance_r2") or {}
    lines = [
        f"subject:    {card['name']} (adapted) of {card['model_id']}, {card.get('n_outputs', 0):,} outputs of "
        f"{card.get('space_id')}",
        f"trained on: {', '.join(card.get('training_stimuli', []))} ({len(runs)} runs, "
        f"{card.get('n_timepoints', 0):,} time points)",
        f"held out:   run {card.get('held_out_run')} ({card.get('held_out_stimulus')}): mean r "
        f"{card.get('held_out_mean_r', float('nan')):.3f}, median {card.get('held_out_median_r', float('nan')):.3f}; "
        f"the model's {card.get('default_subject')} subject: mean r {card.get('default_subject_mean_r', float('nan')):.3f}",
        f"alphas:     median {card.get('alpha_median', float('nan')):.3g}, from "
        f"{card.get('alpha_range', [float('nan')] * 2)[0]:.3g} to {card.get('alpha_range', [float('nan')] * 2)[1]:.3g} "
        f"({card.get('solver')})",
    ]
    if importance:
        lines.append("modalities: " + ", ".join(f"{m} R2 {v:.3f}" for m, v in importance.items()) + " (held out)")
    lines += [f"note:       {note}" for note in card.get("notes", [])]
    return "\n".join(lines)


def _subjects(args) -> int:
    from nforge_app.analysis import delete_subject, list_subjects
    from nforge_app.config import Settings
    from nforge_app.models import resolve_model_id

    settings = Settings.from_env()
    model_id = resolve_model_id(args.model) if args.model else None
    if args.action == "delete":
        if not args.name:
            raise UserInputError("nforge subjects delete NAME: name the subject to delete")
        for owner in delete_subject(settings, args.name, model_id):
            print(f"deleted: {args.name} ({owner})")
        return 0
    cards = list_subjects(settings, model_id)
    if not cards:
        print("no adapted subjects; fit one with `nforge adapt`")
    print("\n\n".join(describe_subject(card) for card in cards))
    return 0


def _read_mask(path: str) -> np.ndarray:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as error:
        raise UserInputError(f"cannot read mask {path}: {error.strerror or error}; expected a .npy file with a "
                             "binary array") from None
    if magic != b"\x93NUMPY":
        raise UserInputError(f"mask {path} is not a .npy file (numpy's format: np.save); expected a .npy file "
                             "with a binary array")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserInputError(f"cannot read mask {path}: {error}; expected a .npy file with a binary array") from None


if __name__ == "__main__":
    sys.exit(main())
