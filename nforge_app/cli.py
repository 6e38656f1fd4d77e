"""The ``nforge`` command line: predict, list models, describe a saved prediction.

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

    _add_batch_parser(commands)

    commands.add_parser("models", help="list the models, their inputs, outputs and weights")

    example = commands.add_parser("example", help="write a 20-s example clip (speech, colour, motion) to try")
    example.add_argument("folder", nargs="?", default=".", help="where to write it (default: here)")

    info = commands.add_parser("info", help="describe a saved prediction (.npz) or a batch's output folder")
    info.add_argument("path", help="a .npz written by `nforge predict`, or the DIR of `nforge batch`")
    return parser


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
    batch.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"))
    batch.add_argument("--quiet", action="store_true", help="no progress bar")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _build_parser().parse_args(argv)
    try:
        return {"predict": _predict, "batch": _batch, "models": _models, "info": _info,
                "example": _example}[args.command](args)
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


def _batch(args) -> int:
    from nforge_app.batch import SUMMARY_NAME, run

    report = run(args.input, args.out, args.model, subject=args.subject, roi=args.roi, variant=args.variant,
                 engine=args.engine, address=args.address, workers=args.workers,
                 cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker, strict=args.strict,
                 device=args.device, progress=not args.quiet)
    counts, seconds = report.counts, report.summary["seconds"]
    print(f"{counts['total']} stimuli: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped "
          f"(already done) in {seconds:.1f} s")
    for row in report.rows:
        if row.status == "failed":
            print(f"  failed: {row.id}: {row.error}")
    print(f"report: {args.out}/batch_report.csv and {SUMMARY_NAME}; `nforge info {args.out}` describes it")
    return 1 if counts["failed"] else 0


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
    from nforge_app.export import load_npz

    if "://" in args.path or Path(args.path).is_dir():
        from nforge_app.batch import REPORT_NAME, SUMMARY_NAME, OutputFolder, describe_batch

        folder = OutputFolder(args.path)
        summary = folder.read_text(SUMMARY_NAME)
        if summary is None:
            raise UserInputError(f"{args.path} holds no {SUMMARY_NAME}: not the output folder of `nforge batch`")
        print(describe_batch(summary, folder.read_text(REPORT_NAME), args.path))
        return 0
    print(_describe(load_npz(args.path)))
    return 0


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
