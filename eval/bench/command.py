"""``python -m eval bench NAME``: the performance benchmarks of :data:`eval.bench.BENCHMARKS` as one command.

    python -m eval bench NAME [--quick] [--repeats N] [--out PATH] [--checkpoint DIR] [--device cuda|cpu] [--tiny]
                              [--config TRAIN_YAML]

Each benchmark prints medians and same-run ratios and writes a json (default ``outputs/bench/NAME.json``;
``bench.json`` for ``all``). ``--checkpoint`` is for the benchmarks that run a pipeline (rollout, all), ``--device``,
``--tiny`` and ``--config`` (the model of its full-size chunk) for ``gpu``; a flag that the named benchmark does
not read is an error, not silently ignored.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eval.bench import BENCHMARKS, CHECKPOINT_BENCHMARKS, DEVICE_BENCHMARKS
from worldmem.utils.cli_errors import UsageError
from worldmem.utils.io import output_file_problem

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help=f"one of: {', '.join(sorted(BENCHMARKS))}")
    p.add_argument("--out", type=Path, default=None, help="json output (default outputs/bench/NAME.json; bench.json for all)")
    p.add_argument("--repeats", type=int, default=5, help="timed repetitions per measurement")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="rollout/all: a saved WorldMemPipeline (default: the random tiny model)")
    p.add_argument("--device", default=None, help="gpu: the device to check (default cuda where there is one)")
    p.add_argument("--tiny", action="store_true", help="gpu: tiny sizes only (the default on the CPU)")
    p.add_argument("--config", type=Path, default=None,
                   help="gpu: the training config whose model the full-size chunk and training step run (default "
                        "configs/cogvideox-5b.yaml; configs/wan2.1-1.3b.yaml, configs/wan2.2-ti2v-5b.yaml)")


def _check(args: argparse.Namespace) -> tuple[Path, dict]:
    """(the json to write, the benchmark's keyword arguments) for parsed ``args``; raises :class:`UsageError`."""
    if args.name not in BENCHMARKS:
        raise UsageError(f"unknown benchmark {args.name!r}; expected one of: {', '.join(sorted(BENCHMARKS))}")
    if args.repeats < 1:
        raise UsageError("--repeats: expected an int >= 1")
    kwargs = {}
    if args.checkpoint is not None:
        if args.name not in CHECKPOINT_BENCHMARKS:
            raise UsageError(f"--checkpoint: only for {', '.join(sorted(CHECKPOINT_BENCHMARKS))}")
        if not (args.checkpoint / "model_index.json").is_file():
            raise UsageError(f"--checkpoint: no model_index.json in {args.checkpoint} (expected a saved "
                             "WorldMemPipeline)")
        kwargs["checkpoint"] = args.checkpoint
    if args.name in DEVICE_BENCHMARKS:
        kwargs.update(device=args.device, tiny=args.tiny)
        if args.config is not None:
            if not args.config.is_file():
                raise UsageError(f"--config: {args.config}: no such file (expected a training config YAML)")
            kwargs["config"] = args.config
    elif args.device is not None or args.tiny or args.config is not None:
        raise UsageError(f"--device/--tiny/--config: only for {', '.join(sorted(DEVICE_BENCHMARKS))}")
    out = args.out or Path("outputs/bench") / ("bench.json" if args.name == "all" else f"{args.name}.json")
    problem = output_file_problem(out, ".json")
    if problem:
        raise UsageError(f"--out: {problem}")
    return out, kwargs


def run(args: argparse.Namespace) -> dict:
    """Runs the benchmark ``args.name`` and writes its json; a bad input raises :class:`UsageError`."""
    out, kwargs = _check(args)
    if args.checkpoint is not None:  # checked now, not after the benchmarks before it (load_pipeline, one line)
        from worldmem.pipelines import load_pipeline

        try:
            load_pipeline(args.checkpoint)
        except ValueError as err:
            raise UsageError(f"--checkpoint: {err}") from None
    try:
        return BENCHMARKS[args.name](out=out, repeats=args.repeats, quick=args.quick, **kwargs)
    except ValueError as err:  # a bad device: one line, exit status 2
        if args.name not in DEVICE_BENCHMARKS:
            raise
        raise UsageError(str(err)) from None
