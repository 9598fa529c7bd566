"""``python -m data_curation {build,preview,stats}``; bad input is a one-line error (exit 2), never a traceback."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from worldmem.data.config import load_curation_config
from worldmem.data.readers import READERS
from worldmem.utils.cli_errors import ArgumentParser


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m data_curation",
                                     description="Curate posed videos into sharded training samples.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="read sources and write shards (resumable)",
                       description="Read posed videos and write training shards. A rerun with the same arguments "
                                   "skips finished shards.")
    b.add_argument("--source", action="append", required=True, metavar="KIND:PATH",
                   help=f"KIND one of {', '.join(READERS)}; synthetic:N (or synthetic:START+N) takes N scenes")
    b.add_argument("--out", type=Path, required=True, help="output folder")
    b.add_argument("--config", type=Path, default=None, help="curation yaml (default: the built-in defaults)")
    b.add_argument("--num-shards", type=int, default=1, help="split the shards over N jobs (job arrays)")
    b.add_argument("--shard-id", type=int, default=0, help="this job's index in [0, N)")
    b.add_argument("--workers", type=int, default=1,
                   help="worker processes (one torch thread each); with --engine ray, Ray tasks in flight")
    b.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where clips are curated: local processes (default) or Ray tasks (pip install -e \".[ray]\")")
    b.add_argument("--address", default=None, metavar="ADDR",
                   help="--engine ray: a running cluster (auto, HOST:PORT or ray://HOST:PORT); default: a local Ray")
    b.add_argument("--depth-dir", default=None, help="depth for RGB-only sources: <clip_id>.npy (N, H, W) float")
    b.add_argument("--depth-estimator", default=None, metavar="KIND:PATH",
                   help="depth for RGB-only sources from a local monocular model (transformers:FOLDER), its scale and "
                        "shift fitted to each clip's cameras; clips whose fit is unreliable fail with the reason")
    b.add_argument("--depth-batch-size", type=int, default=8, help="--depth-estimator: frames per forward pass")
    b.add_argument("--depth-output", choices=("auto", "depth", "disparity"), default="auto",
                   help="--depth-estimator: what the model predicts (auto: the config's depth_estimation_type, "
                        "metric -> depth, else disparity)")
    b.add_argument("--captions", default=None, metavar="FILE",
                   help="captions per clip: a .json {clip_id: caption} or .jsonl rows {clip_id, caption}")
    b.add_argument("--text-encoder", default=None, metavar="DIR",
                   help="also store each caption's T5 embedding (a local folder with text_encoder/ and tokenizer/)")
    b.add_argument("--text-max-length", type=int, default=226,
                   help="tokens per caption embedding: the model's max_text_seq_length (default 226, CogVideoX)")
    b.add_argument("--allow-outside-paths", action="store_true",
                   help="read files that a dataset names outside its folder (absolute paths, '../', links to "
                        "elsewhere); by default such a clip is not read, is recorded as failed and the command exits 2")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("preview", help="write one sample as an mp4 grid (target | memory | coverage | keyframes)")
    p.add_argument("dir", type=Path, help="curated dataset folder")
    p.add_argument("--sample", required=True, help="sample key from manifest.jsonl, or its row number")
    p.add_argument("--out", type=Path, default=None, help="mp4 path (default DIR/previews/KEY.mp4)")
    p.add_argument("--fps", type=int, default=4)

    s = sub.add_parser("stats", help="print counts and coverage/overlap statistics")
    s.add_argument("dir", type=Path, help="curated dataset folder")
    s.add_argument("--json", action="store_true", help="print json instead of text")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            from data_curation.build import check_out, run_build
            from worldmem.utils.io import overlap_problem, unwritable

            problem = unwritable(args.out)
            if problem:
                raise ValueError(f"--out: {args.out}: {problem}")
            inputs = {f"--source {src}": src.split(":", 1)[1] for src in args.source
                      if ":" in src and not src.startswith("synthetic:")}
            inputs.update({"--config": args.config, "--depth-dir": args.depth_dir, "--captions": args.captions,
                           "--text-encoder": args.text_encoder,
                           "--depth-estimator": (args.depth_estimator or "").partition(":")[2] or None})
            problem = overlap_problem({"--out": args.out}, inputs)
            if problem:
                raise ValueError(problem)
            check_out(args.out)

            config = load_curation_config(args.config)
            res = run_build(args.source, args.out, config, num_shards=args.num_shards, shard_id=args.shard_id,
                            workers=args.workers, depth_dir=args.depth_dir, progress=not args.no_progress,
                            captions=args.captions, text_encoder=args.text_encoder,
                            text_max_length=args.text_max_length, engine=args.engine, address=args.address,
                            depth_estimator=args.depth_estimator, depth_batch_size=args.depth_batch_size,
                            depth_output=args.depth_output, allow_outside_paths=args.allow_outside_paths)
            s = res.summary
            print(f"this run: {res.shards_written} shards written, {res.shards_skipped} already done; clips "
                  f"{res.clips_ok} ok, {res.clips_failed} failed; {res.samples} samples in {res.seconds:.1f} s")
            print(f"{args.out}: {s['shards']['complete']}/{s['shards']['total']} shards; clips {s['clips']['ok']} ok, "
                  f"{s['clips']['failed']} failed; samples {s['samples']['ok']} ok, {s['samples']['failed']} failed"
                  + ("" if s["complete"] else " (other shards pending)"))
            if res.outside:  # refused unread: a clear failure, not one more failed clip
                raise ValueError(f"{len(res.outside)} clip(s) name files outside their dataset folder and were not "
                                 f"read (recorded in {args.out / 'failures.jsonl'}); first: {res.outside[0]}; "
                                 "to read them, rerun with --allow-outside-paths and a new --out")
        elif args.command == "preview":
            from data_curation.preview import write_preview
            from worldmem.utils.io import output_file_problem

            problem = None if args.out is None else output_file_problem(args.out, ".mp4")
            if problem:
                raise ValueError(f"--out: {problem}")

            print(write_preview(args.dir, args.sample, args.out, fps=args.fps))
        else:
            from data_curation.stats import dataset_stats, format_stats

            stats = dataset_stats(args.dir)
            print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    except (ValueError, OSError) as err:
        parser.exit(2, f"python -m data_curation {args.command}: error: {' '.join(str(err).split())}\n")
    return 0
