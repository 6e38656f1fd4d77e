"""The ``nforge`` command line: predict, list models, describe a saved prediction, evaluate it.

User errors print one line on stderr and exit with code 2; there is never a traceback for them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from nforge_app._version import __version__
from nforge_app.errors import UserInputError

EXIT_USER_ERROR = 2


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
    predict.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"))
    predict.add_argument("--out", default=None, metavar="PRED.npz",
                         help="where to save the prediction (default: <stimulus name>.<model>.npz)")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")

    commands.add_parser("models", help="list the models, their inputs, outputs and weights")

    example = commands.add_parser("example", help="write a 20-s example clip (speech, colour, motion) to try")
    example.add_argument("folder", nargs="?", default=".", help="where to write it (default: here)")

    info = commands.add_parser("info", help="describe a saved prediction or evaluation (.npz)")
    info.add_argument("path", help="a .npz written by `nforge predict` or `nforge evaluate`")

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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _build_parser().parse_args(argv)
    try:
        return {"predict": _predict, "models": _models, "info": _info, "example": _example,
                "evaluate": _evaluate}[args.command](args)
    except UserInputError as error:
        print(f"nforge: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("nforge: interrupted", file=sys.stderr)
        return 130


def _predict(args) -> int:
    from nforge_app.engine import Engine
    from nforge_app.export import save_npz

    engine = Engine(device=args.device)
    card = engine.card(args.model)
    stimulus = args.stimulus
    if args.per_tr:
        path = Path(stimulus)
        try:
            stimulus = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise UserInputError(f"cannot read {path} as UTF-8 text for --per-tr: {error}") from None
    mask = _read_mask(args.mask) if args.mask else None
    progress = None if args.quiet else _TqdmProgress()
    try:
        prediction = engine.predict(stimulus, args.model, subject=args.subject, roi=args.roi, mask=mask,
                                    variant=args.variant, tr_s=args.tr, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    out = args.out or f"{Path(args.stimulus).stem}.{card.model_id}.npz"
    save_npz(prediction, out)
    print(_describe(prediction))
    print(f"saved: {out}")
    return 0


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

    if is_evaluation_npz(args.path):
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
    save_evaluation(evaluation, out)
    print(_describe_evaluation(evaluation))
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


def _read_mask(path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserInputError(f"cannot read mask {path}: {error}; expected a .npy file with a binary array") from None


class _TqdmProgress:
    """Adapts the engine's ``progress(fraction, stage)`` callback to a tqdm bar on stderr (made on first use)."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, fraction: float, stage: str) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=100, unit="%", bar_format="{desc:<28} {bar} {percentage:3.0f}%", file=sys.stderr)
        self._bar.set_description_str(stage)
        self._bar.n = round(100 * min(max(fraction, 0.0), 1.0))
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


if __name__ == "__main__":
    sys.exit(main())
