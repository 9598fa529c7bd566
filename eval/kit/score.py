"""``python -m eval score``: scores any model's videos of a kit, as ``python -m eval revisit`` scores its own.

    python -m eval score --kit KIT --videos VIDEOS --out REPORT [--name NAME] [--lpips-weights PATH]

The truth of every episode is regenerated from ``KIT/episodes.json`` (the same held-out synthetic scenes and
cameras as ``eval export`` drew; a kit whose cameras differ from the regenerated ones is refused). Each video
(``VIDEOS/<id>.mp4``, ``VIDEOS/<id>/00000.png ...`` or ``VIDEOS/<id>.npy`` (T, H, W, 3) float; every frame of
the episode at its size; optionally ``VIDEOS/<id>_depth.npy``) is checked first, all of them before any
scoring: a missing, short, long, wrong-size, unreadable or non-finite video is one line naming the episode, and
nothing is written. The video's given
frames are replaced by the truth (they are not scored, as in eval revisit); its frames and depth make a
:class:`~eval.variants.Rollout` scored by :func:`eval.scoring.score_variant` with the kit's ``min_gap`` and
``min_covisibility``. The report (``results.json``, ``report.md``, ``report.html``, ``psnr_per_frame.png``,
``drift_curve.png``) has eval revisit's schema with one variant, ``--name`` (default the videos folder's name).
Everything is written into a temporary folder next to ``--out`` and renamed into place at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from eval.episodes import RevisitError
from eval.kit.layout import check_cameras, episode_id, read_kit, read_video_depth, read_video_frames
from eval.variants import Rollout

__all__ = ["add_arguments", "run"]

PROG = "python -m eval score"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kit", type=Path, required=True, help="a kit folder written by python -m eval export")
    p.add_argument("--videos", type=Path, required=True,
                   help="the model's videos: <id>.mp4, <id>/00000.png ... or <id>.npy per episode "
                        "(optional <id>_depth.npy)")
    p.add_argument("--out", type=Path, required=True, help="report folder (results.json, report.md, report.html)")
    p.add_argument("--name", default=None, help="the model's name in the report (default: the videos folder's name)")
    p.add_argument("--lpips-weights", type=Path, default=None, help="torchvision AlexNet state_dict for LPIPS")


def _rollout(frames: torch.Tensor, depth: torch.Tensor | None, episode) -> Rollout:
    """The video as a Rollout: its given frames (and, with a depth file, their depth) replaced by the truth, as
    eval revisit's rollouts start with the given ground truth; no depth file: all unknown (0), so the depth
    metrics (depth AbsRel, warp PSNR) are null."""
    c = episode.context
    frames = torch.cat([episode.frames[:c].float(), frames[c:]])
    if depth is None:
        return Rollout(frames=frames, depth=torch.zeros_like(episode.depth, dtype=torch.float32))
    return Rollout(frames=frames, depth=torch.cat([episode.depth[:c].float(), depth[c:]]))


def run(args) -> dict:
    """Scores the videos for parsed ``args`` and writes the report; raises :class:`RevisitError`."""
    from eval.episodes import protocol_options, synthetic_episodes
    from eval.lpips import MIN_SIZE, load_lpips
    from eval.protocol_report import format_headline
    from eval.report_folder import complete, write_folder
    from eval.scoring import plan_episode, scene_entry, score_variant
    from eval.staging import REPORT_MARKER, check_replaceable
    from worldmem.utils.io import atomic_directory
    from worldmem.utils.paths import plain_name

    kit = read_kit(args.kit)
    settings, entries = kit["settings"], kit["episodes"]
    if not args.videos.is_dir():
        raise RevisitError(f"--videos: no such folder {args.videos}")
    name = args.name if args.name is not None else args.videos.resolve().name
    try:
        plain_name(name, "--name")
    except ValueError as err:
        raise RevisitError(str(err)) from None
    problem = check_replaceable(args.out, {"--kit": args.kit, "--videos": args.videos})
    if problem:
        raise RevisitError(f"--out: {problem}")
    size = tuple(settings["image_size"])
    lpips_model, lpips_reason = None, "no AlexNet weights given (pass --lpips-weights PATH to a torchvision alexnet state_dict)"
    if args.lpips_weights is not None:
        if not args.lpips_weights.is_file():
            raise RevisitError(f"--lpips-weights: no such file {args.lpips_weights}")
        lpips_model, lpips_reason = load_lpips(args.lpips_weights, resize=64 if min(size) < MIN_SIZE else None)
        if lpips_model is None:
            raise RevisitError(f"--lpips-weights: {lpips_reason}")

    # 1. every video, checked before any scoring (one line naming the first bad episode)
    videos = {e["id"]: (read_video_frames(args.videos, e), read_video_depth(args.videos, e)) for e in entries}
    # 2. the truth, regenerated; the kit's cameras must be the regenerated ones
    protocol, c = settings["protocol"], settings["context_frames"]
    wanted = {e["id"]: e for e in entries}
    scenes = []
    seeds, names = settings["seeds"], settings["trajectories"]
    episodes = synthetic_episodes(seeds, names, settings["num_frames"], size[0], c, **protocol_options(protocol))
    for k, episode in enumerate(episodes):
        eid = episode_id(seeds[k // len(names)], episode.trajectory)
        entry = wanted.pop(eid, None)
        if entry is None:
            continue
        if (entry["num_frames"], entry["given_frames"]) != (len(episode.cameras), episode.context):
            raise RevisitError(f"--kit: episode {eid}: kit does not match its episodes.json settings "
                               f"(frame counts differ); export it again")
        check_cameras(args.kit, entry, episode.cameras)
        plan = plan_episode(episode, settings["min_gap"], settings["min_covisibility"], protocol)
        frames, depth = videos[eid]
        metrics = {name: score_variant(_rollout(frames, depth, episode), episode, plan, lpips_model)}
        scene = scene_entry(episode, plan, metrics, settings["min_covisibility"])
        scene["episode"] = eid
        scenes.append(scene)
    if wanted:
        raise RevisitError(f"--kit: kit does not match its episodes.json settings: episode {next(iter(wanted))} "
                           f"is not one of them; export it again")

    results = {
        "config": {
            "model": name, "kit": str(args.kit), "videos": str(args.videos), "protocol": protocol,
            "source": settings.get("source", "synthetic"), "seeds": seeds, "clips": None,
            "dynamic_scenes": settings.get("dynamic_scenes"), "trajectories": names,
            "num_frames": settings["num_frames"], "context_frames": c, "context_rule": f"{c} frames",
            "variants": [name], "image_size": list(size), "chunk_size": settings.get("chunk_size"),
            "working_window": settings.get("working_window"), "min_gap": settings["min_gap"],
            "min_covisibility": settings["min_covisibility"], "oracle_fill": "none (no oracle in a kit score)",
            "away_required_frames": None, "skipped": kit.get("skipped", []),
        },
        "scenes": scenes,
        "lpips": {"available": lpips_model is not None, "reason": lpips_reason},
    }
    complete(results)

    def fill(stage: Path) -> None:
        write_folder(results, stage)

    try:
        atomic_directory(args.out, fill, marker=REPORT_MARKER)
    except ValueError as err:
        raise RevisitError(f"--out: {err}") from None
    print(format_headline(results))
    print(f"wrote {args.out}/results.json, report.md, report.html, psnr_per_frame.png, drift_curve.png "
          f"({len(scenes)} episodes of {name})")
    return results
