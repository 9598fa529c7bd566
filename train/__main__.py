"""``python -m train --config configs/tiny.yaml [key=value ...] [--resume]`` (also under ``accelerate launch``).

``key=value`` overrides may stand anywhere on the line (``--max-steps 1 optim.lr=1e-4``); a bad config is one
line ``python -m train: error: <file>: <key>: expected ..., got ...`` and exit status 2.
"""

from __future__ import annotations

import os
import sys

from worldmem.utils.cli_errors import ArgumentParser


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m train", description="Train a worldmem model with accelerate.")
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
    from pathlib import Path

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
