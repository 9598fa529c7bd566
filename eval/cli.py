"""``python -m eval``: the revisit benchmark and the performance benchmarks.

    python -m eval revisit --checkpoint DIR --out DIR [...]     (eval/revisit.py; docs/evaluation.md)
    python -m eval plot-paths --out docs/paths.png [--seed S]    (eval/plot_paths.py; docs/paths.md)
    python -m eval scale-fit --out docs/scale_fit.png [--clips N]   (eval/scale_fit.py; docs/data.md)
    python -m eval strip --checkpoint DIR --out docs/recall_strip.png   (eval/strip.py; docs/evaluation.md)
    python -m eval bench NAME [--quick] [--repeats N] [--out PATH] [--checkpoint DIR]
    python -m eval bench budget [--config YAML] [key=value ...]   (eval/bench/budget.py; docs/models.md)
    python -m eval bench gpu [--device cuda|cpu] [--tiny]           (eval/bench/gpu.py)

Each benchmark prints medians and same-run ratios and writes a json (default ``outputs/bench/NAME.json``);
``bench all`` runs geometry, rollout and curation in turn and gathers them into ``outputs/bench/bench.json``.
"""

from __future__ import annotations

from pathlib import Path

from eval.bench import BENCHMARKS, CHECKPOINT_BENCHMARKS, CONFIG_BENCHMARKS, DEVICE_BENCHMARKS
from worldmem.utils.cli_errors import ArgumentParser
from worldmem.utils.io import output_file_problem


def main(argv: list[str] | None = None) -> int:
    from eval import plot_paths, revisit, scale_fit, strip

    parser = ArgumentParser(prog="python -m eval")
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revisit", help="revisit-consistency benchmark (ablations, report, videos)",
                         description=revisit.__doc__.split("\n\n")[0])
    revisit.add_arguments(rev)
    plot = sub.add_parser("plot-paths", help="top-down plot of every registry camera path in a synthetic scene",
                          description=plot_paths.__doc__.split("\n\n")[0])
    plot_paths.add_arguments(plot)
    scale = sub.add_parser("scale-fit", help="how well the cameras fix a depth estimator's scale (synthetic clips)",
                           description=scale_fit.__doc__.split("\n\n")[0])
    scale_fit.add_arguments(scale)
    fig = sub.add_parser("strip", help="the view-recall figure: way out above the same cameras on the way back",
                         description=strip.__doc__.split("\n\n")[0])
    strip.add_arguments(fig)
    bench = sub.add_parser("bench", help="performance benchmarks (medians, same-run ratios)")
    bench.add_argument("name", help=f"one of: {', '.join(sorted(BENCHMARKS))}")
    bench.add_argument("--out", type=Path, default=None,
                       help="json output (default outputs/bench/NAME.json; bench.json for all)")
    bench.add_argument("--repeats", type=int, default=5, help="timed repetitions per measurement")
    bench.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    bench.add_argument("--checkpoint", type=Path, default=None,
                       help="rollout/all: a saved WorldMemPipeline (default: the random tiny model)")
    bench.add_argument("--config", type=Path, default=None,
                       help="budget: a training YAML (default configs/cogvideox-5b.yaml); key=value overrides follow")
    bench.add_argument("--device", default=None, help="gpu: the device to check (default cuda where there is one)")
    bench.add_argument("--tiny", action="store_true", help="gpu: tiny sizes only (the default on the CPU)")
    args, extra = parser.parse_known_args(argv)
    overrides = [e for e in extra if "=" in e and not e.startswith("-")]
    if args.command != "bench" or args.name not in CONFIG_BENCHMARKS or len(overrides) != len(extra):
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in ("revisit", "strip"):
        command, sub_parser = (revisit, rev) if args.command == "revisit" else (strip, fig)
        try:
            command.run(args)
        except revisit.RevisitError as err:  # a bad input: one line, exit status 2
            sub_parser.exit(2, f"{sub_parser.prog}: error: {err}\n")
        return 0
    if args.command == "plot-paths":
        return plot_paths.main(args, plot)
    if args.command == "scale-fit":
        return scale_fit.main(args, scale)
    if args.name not in BENCHMARKS:
        bench.error(f"unknown benchmark {args.name!r}; expected one of: {', '.join(sorted(BENCHMARKS))}")
    if args.repeats < 1:
        bench.error("--repeats: expected an int >= 1")
    kwargs = {}
    if args.checkpoint is not None:
        if args.name not in CHECKPOINT_BENCHMARKS:
            bench.error(f"--checkpoint: only for {', '.join(sorted(CHECKPOINT_BENCHMARKS))}")
        if not (args.checkpoint / "model_index.json").is_file():
            bench.error(f"--checkpoint: no model_index.json in {args.checkpoint} (expected a saved WorldMemPipeline)")
        kwargs["checkpoint"] = args.checkpoint
    if args.name in CONFIG_BENCHMARKS:
        config = args.config or Path("configs/cogvideox-5b.yaml")
        if not config.is_file():
            bench.error(f"--config: no such file: {config}")
        kwargs.update(config=config, overrides=tuple(overrides))
    elif args.config is not None:
        bench.error(f"--config: only for {', '.join(sorted(CONFIG_BENCHMARKS))}")
    if args.name in DEVICE_BENCHMARKS:
        kwargs.update(device=args.device, tiny=args.tiny)
    elif args.device is not None or args.tiny:
        bench.error(f"--device/--tiny: only for {', '.join(sorted(DEVICE_BENCHMARKS))}")
    out = args.out or Path("outputs/bench") / ("bench.json" if args.name == "all" else f"{args.name}.json")
    problem = output_file_problem(out, ".json")
    if problem:
        bench.error(f"--out: {problem}")
    if args.checkpoint is not None:  # checked now, not after the benchmarks before it (load_pipeline, one line)
        from worldmem.pipelines import load_pipeline

        try:
            load_pipeline(args.checkpoint)
        except ValueError as err:
            bench.error(f"--checkpoint: {err}")
    try:
        BENCHMARKS[args.name](out=out, repeats=args.repeats, quick=args.quick, **kwargs)
    except ValueError as err:  # a bad config (ConfigError is a ValueError) or device: one line, exit status 2
        if args.name not in CONFIG_BENCHMARKS | DEVICE_BENCHMARKS:
            raise
        bench.error(str(err))
    return 0
