"""python -m training: prepare data, train, evaluate and use the ResNet-50 age model.

Workflow: prepare (detect + align a labelled dataset) -> train -> evaluate -> predict.
`export` writes the ONNX graph the service runs; `template` re-measures the alignment template;
`pack`/`unpack` and `split-file`/`join-file` move data and checkpoints to and from a GPU machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .sources import SOURCES


def _source_options(args: argparse.Namespace) -> dict:
    if args.source == "utkface":
        return {
            "age_range": (
                args.age_min if args.age_min is not None else 0,
                args.age_max if args.age_max is not None else 120,
            )
        }
    if args.source == "imdb-wiki":
        options: dict = {"per_age_cap": args.per_age_cap, "seed": args.seed}
        if args.age_min is not None:
            options["age_min"] = args.age_min
        if args.age_max is not None:
            options["age_max"] = args.age_max
        return options
    return {"target": args.target}


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=SOURCES, default="utkface", help="dataset layout of --input")
    parser.add_argument(
        "--input",
        help="utkface: folder of chips; imdb-wiki: imdb.mat/wiki.mat or its folder; "
        "appa-real: folder with gt_avg_*.csv",
    )
    parser.add_argument("--age-min", type=int, help="drop younger labels (imdb-wiki default 10)")
    parser.add_argument("--age-max", type=int, help="drop older labels (imdb-wiki default 75)")
    parser.add_argument("--per-age-cap", type=int, default=5000, help="imdb-wiki: at most this many per age")
    parser.add_argument("--target", choices=("real", "apparent"), default="real", help="appa-real: which age")
    parser.add_argument("--seed", type=int, default=0)


def _samples(args: argparse.Namespace) -> list:
    from .sources import iter_source

    if not args.input:
        raise SystemExit("error: --input is required")
    return list(iter_source(args.source, args.input, **_source_options(args)))


def _prepare(args: argparse.Namespace) -> int:
    from .prepare import PrepareOptions, prepare

    samples = _samples(args)
    if args.limit:
        samples = samples[: args.limit]
    options = PrepareOptions(
        size=args.size,
        score_threshold=args.score_threshold,
        jpeg_quality=args.quality,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
        workers=args.workers,
    )
    summary = prepare(samples, args.out, options, progress=not args.quiet)
    print(json.dumps({k: v for k, v in summary.items() if k != "template"}))
    return 0


def _train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .train import train

    config = load_config(args.config, args.overrides)
    metrics = train(config, resume=args.resume)
    if metrics:
        print(json.dumps({k: v for k, v in metrics.items() if k != "history"}))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_photos, evaluate_prepared, format_report, read_name_list, select

    names = read_name_list(args.files) if args.files else None
    if args.prepared:
        result = evaluate_prepared(
            args.checkpoint,
            args.prepared,
            args.split,
            names,
            args.device,
            not args.no_flip,
            args.checks,
            args.engine,
        )
    else:
        samples = select(_samples(args), names)
        result = evaluate_photos(args.checkpoint, samples, args.device, not args.no_flip, checks=args.checks)
    if args.record:
        from .evaluate import record

        record(args.checkpoint, args.record, result, " ".join(["python -m training", *sys.argv[1:]]))
    print(json.dumps(result) if args.json else format_report(result))
    return 0


def _checkpoints(path: str, out: str | None) -> list[str]:
    """The checkpoint files a model path stands for: itself, or an ensemble file's members."""
    from inference_service.vision.ensemble import is_ensemble, model_files

    if out and is_ensemble(path):
        raise ValueError("--out names one graph; an ensemble's graphs go beside each member")
    return [str(file) for file in model_files(path)]


def _quantize(args: argparse.Namespace) -> int:
    from .quantize import quantize

    for checkpoint in _checkpoints(args.checkpoint, args.out):
        figures = quantize(
            checkpoint, args.prepared, args.out, args.calibration_faces, args.control_faces, args.max_move
        )
        print(json.dumps(figures))
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import export_graph

    for checkpoint in _checkpoints(args.checkpoint, args.out):
        print(json.dumps(export_graph(checkpoint, args.out)))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .evaluate import compare

    print(json.dumps(compare(args.model, args.against, args.prepared, args.split)))
    return 0


def _engines(args: argparse.Namespace) -> int:
    from inference_service.vision.engines import ENGINES
    from inference_service.vision.options import AgeModelOptions

    from .evaluate import compare_engines

    engines = (
        args.engines.split(",") if args.engines else [n for n, e in ENGINES.items() if not e.refuses("cpu")]
    )
    model = args.model or AgeModelOptions().path
    print(json.dumps(compare_engines(model, args.prepared, args.split, args.limit, engines)))
    return 0


def _card_tables(args: argparse.Namespace) -> int:
    from .report import card_tables

    print(card_tables(json.loads(Path(args.result).read_text())))
    return 0


def _test_list(args: argparse.Namespace) -> int:
    from .evaluate import stratified_names

    names = stratified_names(args.prepared, args.count)
    header = f"# {args.count} age-stratified chips of the test split of {Path(args.prepared).name}\n"
    Path(args.out).write_text(header + "\n".join(names) + "\n")
    print(f"wrote {len(names)} names to {args.out}")
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from .ensemble import fit_ensemble

    command = " ".join(["python -m training", *sys.argv[1:]])
    result = fit_ensemble(
        args.checkpoints, args.prepared, args.out, args.name, args.version, command, args.fit_from
    )
    print(json.dumps(result))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate, copy_calibration

    if args.like:
        print(json.dumps(copy_calibration(args.checkpoint, args.like, args.out)))
        return 0
    if not args.prepared:
        raise SystemExit("calibrate: --prepared is required (or --like)")
    print(json.dumps(calibrate(args.checkpoint, args.prepared, args.out, args.split, args.device, args.plot)))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from inference_service.settings import Settings
    from inference_service.vision.age_checks import parse_thresholds

    from .predict import predict_photos, to_csv, to_json

    # The service's own pipeline: its config file (default: the shipped service.cfg), flags on top.
    settings = Settings.load(
        args.config,
        device=args.device,
        age_model={"path": args.checkpoint},
        detector={"score_threshold": args.score_threshold},
    )
    thresholds = None if args.thresholds is None else parse_thresholds(args.thresholds)
    records = predict_photos(settings, args.paths, thresholds)
    text = to_json(records) if args.format == "json" else to_csv(records)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _template(args: argparse.Namespace) -> int:
    from .template import as_python, measure_template

    result = measure_template(args.input, args.limit)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"# mean RetinaFace landmarks on {result['measured']} of {result['images']} chips "
            f"({result['no_face']} without a face), symmetrised"
        )
        print(as_python(result["template"]))
    return 0


def _pack(args: argparse.Namespace) -> int:
    from .pack import pack

    print(json.dumps(pack(args.prepared, args.out, args.size, args.format, args.quality, args.shard_mib)))
    return 0


def _unpack(args: argparse.Namespace) -> int:
    from .pack import unpack

    print(json.dumps(unpack(args.packed, args.out)))
    return 0


def _split_file(args: argparse.Namespace) -> int:
    from .parts import split_file

    print(json.dumps(split_file(args.file, args.out, args.part_mib)))
    return 0


def _join_file(args: argparse.Namespace) -> int:
    from .parts import join_file

    print(join_file(args.parts, args.out))
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from . import lineage

    if args.digest:
        print(lineage.weights_sha256(args.digest))
        return 0
    # Only the shipped folder as it is has a recorded config and checkpoint to compare with by default.
    shipped = not args.then and Path(args.folder).resolve() == lineage.SHIPPED
    recorded = Path(args.recorded) if args.recorded else lineage.SHIPPED_CONFIG if shipped else None
    checkpoint = Path(args.checkpoint) if args.checkpoint else lineage.SHIPPED_CHECKPOINT if shipped else None
    found, problems = lineage.dry_run(
        Path(args.folder), tuple(Path(p) for p in args.then), recorded, checkpoint
    )
    print("\n".join(lineage.describe(found)))
    for stage in found.stages:
        print(f"python -m training train --config {stage.path}")
    for stage in found.members.values():  # the ensemble's other networks, each trained in one stage
        print(f"python -m training train --config {stage.path.relative_to(lineage.REPO)}")
    compared = [f"config {recorded}"] * bool(recorded) + [f"weights {checkpoint}"] * bool(checkpoint)
    print(
        "\n".join(problems) or "the stages chain" + "".join(f"; the last one matches {c}" for c in compared)
    )
    return 1 if problems else 0


def _thresholds(text: str) -> list[int]:
    from inference_service.vision.age_checks import parse_thresholds

    try:
        return parse_thresholds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cmd = commands.add_parser("prepare", help="detect + align a labelled dataset into a prepared set")
    _add_source_arguments(cmd)
    cmd.add_argument(
        "--out", required=True, help="output folder (crops/, index.csv, summary.json, no_face.csv)"
    )
    cmd.add_argument("--size", type=int, default=160, help="side of the stored aligned crops, pixels")
    cmd.add_argument("--quality", type=int, default=95, help="JPEG quality of the stored crops")
    cmd.add_argument("--score-threshold", type=float, default=0.5, help="face detector score threshold")
    cmd.add_argument("--val-fraction", type=float, default=0.1)
    cmd.add_argument("--test-fraction", type=float, default=0.1)
    cmd.add_argument("--workers", type=int, default=2, help="parallel detector processes")
    cmd.add_argument("--limit", type=int, default=0, help="only the first N images (0 = all)")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    cmd.set_defaults(handler=_prepare)

    cmd = commands.add_parser("train", help="train a ResNet-50 age model from a prepared set")
    cmd.add_argument("--config", help="experiment TOML file (training/configs/*.toml)")
    cmd.add_argument("--resume", action="store_true", help="continue from <out_dir>/last_state.pt")
    cmd.add_argument("overrides", nargs="*", help="section.key=value, e.g. optim.epochs=5")
    cmd.set_defaults(handler=_train)

    cmd = commands.add_parser("evaluate", help="MAE overall and per age group of a checkpoint")
    cmd.add_argument("--checkpoint", required=True)
    _add_source_arguments(cmd)
    cmd.add_argument("--prepared", help="evaluate the crops of a prepared set instead of raw photos")
    cmd.add_argument(
        "--split",
        default="test",
        choices=("train", "val", "test", "all"),
        help="with --prepared: which split",
    )
    cmd.add_argument("--files", help="text file of file names (one a line) to evaluate only those")
    cmd.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    cmd.add_argument(
        "--engine",
        default="torch",
        help="with --prepared: the age-model engine (default torch, the fp32 reference; e.g. openvino-int8)",
    )
    cmd.add_argument("--no-flip", action="store_true", help="no test-time horizontal flip")
    cmd.add_argument("--json", action="store_true", help="print one JSON object (keys mae, groups, ...)")
    cmd.add_argument(
        "--checks",
        type=_thresholds,
        help="age checks to score, e.g. 13,18,21,25: false accept/reject, uncertain share, ECE, Challenge-25",
    )
    cmd.add_argument(
        "--record",
        metavar="KEY",
        help="also store the figures in the checkpoint's metrics under KEY (shown by GET /model)",
    )
    cmd.set_defaults(handler=_evaluate)

    cmd = commands.add_parser(
        "calibrate", help="fit the age distribution's temperature on a split; write it into the checkpoint"
    )
    cmd.add_argument("--checkpoint", required=True)
    cmd.add_argument("--prepared", help="prepared set the model was trained on")
    cmd.add_argument("--split", default="val", choices=("train", "val", "test"), help="split to fit on")
    cmd.add_argument(
        "--like",
        help="copy this checkpoint's temperature instead (the validation run of a train+val retrain)",
    )
    cmd.add_argument("--out", help="write the calibrated checkpoint here (default: in place)")
    cmd.add_argument("--plot", help="write a reliability diagram (PNG) here")
    cmd.add_argument("--device", default="auto")
    cmd.set_defaults(handler=_calibrate)

    cmd = commands.add_parser(
        "quantize",
        help="the int8 graph of a checkpoint for the openvino-int8 engine (NNCF, accuracy control)",
    )
    cmd.add_argument("--checkpoint", required=True)
    cmd.add_argument("--prepared", required=True, help="prepared set the model was trained on")
    cmd.add_argument(
        "--out", help="where to write the graph (default: beside the checkpoint, <stem>.int8.xml)"
    )
    cmd.add_argument("--calibration-faces", type=int, default=300, help="training faces (and their flips)")
    cmd.add_argument(
        "--control-faces", type=int, default=600, help="validation faces accuracy control checks"
    )
    cmd.add_argument(
        "--max-move", type=float, default=0.2, help="largest mean move of an age from fp32 it accepts, years"
    )
    cmd.set_defaults(handler=_quantize)

    cmd = commands.add_parser(
        "compare",
        help="is a model better than the shipped one? a paired bootstrap of the MAE on the same faces",
    )
    cmd.add_argument("model", help="a checkpoint or ensemble file")
    cmd.add_argument("--against", default="models/age-resnet50.safetensors", help="the model to beat")
    cmd.add_argument("--prepared", default="data/prepared/utkface-160")
    cmd.add_argument("--split", default="test", choices=("val", "test"))
    cmd.set_defaults(handler=_compare)

    cmd = commands.add_parser(
        "engines", help="each age-network engine on the same crops: ages against fp32 torch, MAE, faces/s"
    )
    cmd.add_argument("model", nargs="?", help="a checkpoint or ensemble file (default: the shipped model)")
    cmd.add_argument("--prepared", default="data/prepared/utkface-160")
    cmd.add_argument("--split", default="test", choices=("val", "test"))
    cmd.add_argument("--limit", type=int, default=0, help="a fixed random N of the split's faces (0: all)")
    cmd.add_argument("--engines", help="comma-separated (default: every engine that runs on this CPU)")
    cmd.set_defaults(handler=_engines)

    cmd = commands.add_parser("card-tables", help="the model card's Markdown tables from `evaluate --json`")
    cmd.add_argument("result", help="the JSON `evaluate --checks 13,18,21,25 --json` printed")
    cmd.set_defaults(handler=_card_tables)

    cmd = commands.add_parser(
        "test-list", help="the fixed age-stratified list of test chips (models/test-300.txt)"
    )
    cmd.add_argument("--prepared", default="data/prepared/utkface-160")
    cmd.add_argument("--out", default="models/test-300.txt")
    cmd.add_argument("--count", type=int, default=300)
    cmd.set_defaults(handler=_test_list)

    cmd = commands.add_parser(
        "ensemble",
        help="fit an ensemble of checkpoints (weights, rule, temperature) on validation, score it on test",
    )
    cmd.add_argument("checkpoints", nargs="+", help="the member checkpoints, the product's ResNet-50 first")
    cmd.add_argument("--prepared", required=True, help="prepared set the members were trained on")
    cmd.add_argument(
        "--out", required=True, help="the ensemble file to write (JSON), beside or above the members"
    )
    cmd.add_argument("--name", default="age-ensemble-utkface")
    cmd.add_argument("--version", required=True)
    cmd.add_argument(
        "--fit-from",
        help="take rule, weights and temperature from this ensemble file (fitted on validation) instead of "
        "fitting: for members retrained on train + validation, in the same order as its members",
    )
    cmd.set_defaults(handler=_ensemble)

    cmd = commands.add_parser(
        "export", help="the ONNX graph of a checkpoint that the service's graph engines run (no torch there)"
    )
    cmd.add_argument("--checkpoint", required=True)
    cmd.add_argument("--out", help="where to write the graph (default: beside the checkpoint, <stem>.onnx)")
    cmd.set_defaults(handler=_export)

    cmd = commands.add_parser("predict", help="every face, its box and age, in photos or folders of photos")
    cmd.add_argument(
        "--config", help="service config whose pipeline to run (default: the shipped service.cfg)"
    )
    cmd.add_argument("--checkpoint", help="age model (default: the config's age_model.path)")
    cmd.add_argument("paths", nargs="+", help="image files or folders")
    cmd.add_argument(
        "--thresholds", help="age checks, e.g. 13,18 (default: the config's age_thresholds; '' = none)"
    )
    cmd.add_argument("--format", choices=("csv", "json"), default="csv")
    cmd.add_argument("--out", help="write here instead of standard output")
    cmd.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the config's)")
    cmd.add_argument(
        "--score-threshold", type=float, help="face detector score threshold (default: the config's)"
    )
    cmd.set_defaults(handler=_predict)

    cmd = commands.add_parser("template", help="measure the alignment template on aligned chips")
    cmd.add_argument("--input", required=True, help="folder of aligned chips (e.g. UTKFace)")
    cmd.add_argument("--limit", type=int, default=0, help="only the first N chips by name (0 = all)")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=_template)

    cmd = commands.add_parser("pack", help="a prepared set as compact shards to carry to a GPU machine")
    cmd.add_argument("--prepared", required=True)
    cmd.add_argument("--out", required=True, help="folder for shard-NNN.npz and pack.json")
    cmd.add_argument("--size", type=int, default=112, help="re-encode crops at this side (the training size)")
    cmd.add_argument("--format", choices=("webp", "jpeg"), default="webp")
    cmd.add_argument("--quality", type=int, default=85)
    cmd.add_argument("--shard-mib", type=float, default=10.0, help="largest shard size, MiB")
    cmd.set_defaults(handler=_pack)

    cmd = commands.add_parser("unpack", help="shards back to a prepared folder")
    cmd.add_argument("--packed", required=True, help="folder of shard-NNN.npz (or one shard)")
    cmd.add_argument("--out", required=True)
    cmd.set_defaults(handler=_unpack)

    cmd = commands.add_parser("split-file", help="cut a file (a checkpoint) into parts below a size limit")
    cmd.add_argument("file")
    cmd.add_argument("--out", required=True)
    cmd.add_argument("--part-mib", type=float, default=15.0)
    cmd.set_defaults(handler=_split_file)

    cmd = commands.add_parser("join-file", help="join parts made by split-file, checking the SHA-256")
    cmd.add_argument("parts", help="folder holding the parts and parts.json")
    cmd.add_argument("--out", required=True)
    cmd.set_defaults(handler=_join_file)

    cmd = commands.add_parser(
        "lineage",
        help="dry run of the shipped model's stages: each starts from the one before; the last is shipped",
    )
    cmd.add_argument("--folder", default="training/configs/shipped", help="the stages, NN-<name>.toml")
    cmd.add_argument("--then", nargs="*", default=[], help="candidate stages to walk after them")
    cmd.add_argument(
        "--recorded", help="resolved config the last stage must equal (default: the shipped one)"
    )
    cmd.add_argument("--checkpoint", help="checkpoint the last stage's weights_sha256 must match")
    cmd.add_argument("--digest", metavar="CHECKPOINT", help="only print a checkpoint's weights sha256")
    cmd.set_defaults(handler=_lineage)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from inference_service.vision.checkpoint import CheckpointError

        if not isinstance(exc, CheckpointError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
