"""``python -m train``: train a model, or plan the GPU memory its training needs.

    python -m train --config configs/tiny.yaml [key=value ...] [--resume]    (also under ``accelerate launch``)
    python -m train budget --config configs/cogvideox-5b.yaml --out budget.json [key=value ...]   (train/budget.py)

``key=value`` overrides may stand anywhere on the line (``--max-steps 1 optim.lr=1e-4``); a bad config is one
line ``python -m train: error: <file>: <key>: expected ..., got ...`` and exit status 2 (``python -m train
budget: error: ...`` for the budget).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from worldmem.utils.cli_errors import ArgumentParser
from worldmem.utils.io import output_file_problem


def budget(argv: list[str]) -> int:
    """``python -m train budget``: parameters, optimiser state and activations of a configured model, and how many
    GPUs of 80 and 141 GB each distributed strategy needs (no weights are read; see train/budget.py)."""
    parser = ArgumentParser(prog="python -m train budget", description=budget.__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="training YAML, e.g. configs/cogvideox-5b.yaml")
    parser.add_argument("--out", type=Path, required=True, help="json output (the table is printed and stored in it)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="overrides, anywhere on the line, e.g. generation.chunk_size=25 model.num_control_layers=4")
    args = parser.parse_intermixed_args(argv)
    problem = output_file_problem(args.out, ".json")
    if problem:
        parser.exit(2, f"{parser.prog}: error: --out: {problem}\n")
    from train.budget import write_budget

    try:
        write_budget(args.config, args.out, args.overrides)
    except ValueError as err:  # a bad config (ConfigError is a ValueError) or model.pretrained: one line
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["budget"]:
        return budget(argv[1:])
    parser = ArgumentParser(prog="python -m train", description="Train a worldmem model with accelerate.",
                            epilog="python -m train budget --help: the GPU memory a config's training needs.")
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/tiny.yaml")
    parser.add_argument("--resume", action="store_true", help="continue from output_dir/checkpoints/latest")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (for smoke runs)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="overrides, anywhere on the line, e.g. optim.lr=3e-4 data.curation.voxel_size=0.05")
    args = parser.parse_intermixed_args(argv)
    from train.config import ConfigError, load_config

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as err:
        parser.exit(2, f"python -m train: error: {err}\n")
    from train.loop import COMMAND, OUTPUT_MARKERS, latest_checkpoint, train
    from worldmem.utils.io import overlap_problem, replace_problem

    # Checked before the model is built: a run must not fail at its first checkpoint, or start from nothing.
    if args.max_steps is not None and args.max_steps < 1:
        parser.exit(2, f"python -m train: error: --max-steps: expected an int >= 1, got {args.max_steps}\n")
    # output_dir: new, empty, or a training run's own folder; never one holding (or inside) what the run reads.
    problem = overlap_problem({"output_dir": cfg.output_dir},
                              {"data.shards": cfg.data.shards or None, "model.init_from": cfg.model.init_from or None,
                               "model.text_encoder": cfg.model.text_encoder or None})
    problem = problem or replace_problem(cfg.output_dir, OUTPUT_MARKERS, COMMAND)
    if problem:
        parser.exit(2, f"python -m train: error: {problem if problem.startswith('output_dir') else 'output_dir: ' + problem}\n")
    if args.resume and latest_checkpoint(Path(cfg.output_dir)) is None:
        parser.exit(2, f"python -m train: error: --resume: no complete checkpoint under {cfg.output_dir}/checkpoints\n")
    try:
        final = train(cfg, resume=args.resume, max_steps=args.max_steps)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"python -m train: error: {err}\n")
    if final.is_dir() and os.environ.get("RANK", "0") == "0":
        print(f"saved the trained pipeline to {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
