"""``python -m eval export``: the episodes of a protocol as a kit that any model can run (docs/evaluation.md).

    python -m eval export --out KIT [--protocol recall|cycle|given-half] [--scenes N] [--seed S]
        [--trajectories NAMES] [--num-frames F] [--context-frames C] [--min-gap G] [--min-covisibility X]
        [--checkpoint DIR]

The episodes are exactly those ``python -m eval revisit`` builds with the same flags (the same checks,
:func:`eval.episodes.synthetic_episodes`, the same skipped scenes). ``--checkpoint`` (default the shipped
model, ``checkpoints/worldmem-tiny``) fixes what revisit takes from the model: the frame size, and the default
``min_gap`` from its working window and chunk size. ``KIT/episodes.json`` records every setting the scorer needs
to regenerate the truth; the truth itself is not written. The kit is built in a temporary folder and renamed to
``--out`` at the end (``episodes.json`` is its marker).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval.episodes import RevisitError
from eval.kit.layout import KIT_FORMAT, KIT_MARKER, KIT_VERSION, episode_id, write_episode
from eval.protocols import PROTOCOLS
from eval.revisit_detect import DEFAULT_MIN_COVISIBILITY

__all__ = ["SHIPPED_CHECKPOINT", "add_arguments", "run"]

SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "worldmem-tiny"
PROG = "python -m eval export"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="the kit folder to write (episodes.json, <id>/...)")
    p.add_argument("--protocol", default="recall", help=f"one of {', '.join(PROTOCOLS)} (default recall)")
    p.add_argument("--scenes", type=int, default=None, help="synthetic held-out scenes (default as eval revisit: 6)")
    p.add_argument("--seed", type=int, default=None, help="first held-out scene seed (default EVAL_SEEDS.start)")
    p.add_argument("--trajectories", default=None, help="comma-separated registry paths (default as eval revisit)")
    p.add_argument("--num-frames", type=int, default=None, help="frames per path (default: recall 48, cycle 104, "
                                                                "given-half 48)")
    p.add_argument("--context-frames", type=int, default=None, help="given frames (default as eval revisit)")
    p.add_argument("--min-gap", type=int, default=None, help="min_gap G (default from --checkpoint, as eval revisit)")
    p.add_argument("--min-covisibility", type=float, default=DEFAULT_MIN_COVISIBILITY, help="revisit threshold X")
    p.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINT,
                   help="the saved pipeline whose frame size, working window and chunk size fix the episodes' "
                        "size and the default min_gap (default the shipped model, checkpoints/worldmem-tiny)")


def checked_settings(args) -> tuple[list[str], int, tuple[int, int], int, dict]:
    """``(trajectories, min_gap, frame size, scenes, the model's window)`` after eval revisit's own checks of the
    same flags; the window is ``{"working_window": W, "chunk_size": K}`` of ``--checkpoint``."""
    from eval.revisit import DEFAULT_SCENES, _load_pipe, _min_gap, _validate
    from eval.staging import check_replaceable

    # eval revisit's checks of the episode flags; its model-run flags at their defaults (export runs no model)
    shared = argparse.Namespace(**vars(args), model=None, name=None, image_size=None, variants=None, source=None,
                                steps=1, frame_stride=1, lpips_weights=None, depth_dir=None, overrides=[])
    _, names = _validate(shared)
    for key in ("num_frames", "context_frames", "seed"):
        setattr(args, key, getattr(shared, key))
    problem = check_replaceable(args.out, {"--checkpoint": args.checkpoint}, marker=KIT_MARKER)
    if problem:
        raise RevisitError(f"--out: {problem}")
    pipe = _load_pipe(args.checkpoint)
    size = pipe.frame_size
    if size[0] != size[1]:
        raise RevisitError(f"--checkpoint: synthetic paths need square frames, the model makes {size}")
    gen = pipe.generation
    window = {"working_window": gen.working_window, "chunk_size": gen.chunk_size}
    return names, _min_gap(args, gen.working_window, gen.chunk_size), size, args.scenes or DEFAULT_SCENES, window


def run(args) -> dict:
    """Writes the kit for parsed ``args``; returns the ``episodes.json`` dict. Raises :class:`RevisitError`."""
    from eval.episodes import dynamic_scenes_rule, protocol_options, synthetic_episodes
    from worldmem.utils.io import atomic_directory

    names, min_gap, size, scenes, window = checked_settings(args)
    seeds = list(range(args.seed, args.seed + scenes))
    if args.context_frames is None:  # given-half: half the path, as eval revisit
        args.context_frames = args.num_frames // 2
    data = {
        "format": KIT_FORMAT, "version": KIT_VERSION,
        "settings": {
            "protocol": args.protocol, "source": "synthetic", "seeds": seeds, "trajectories": names,
            "dynamic_scenes": dynamic_scenes_rule(args.protocol), "num_frames": args.num_frames,
            "context_frames": args.context_frames, "image_size": list(size), "min_gap": min_gap,
            "min_covisibility": args.min_covisibility, "checkpoint": str(args.checkpoint), **window,
        },
        "episodes": [], "skipped": [],
    }

    def fill(stage: Path) -> None:
        for k, episode in enumerate(synthetic_episodes(seeds, names, args.num_frames, size[0], args.context_frames,
                                                          **protocol_options(args.protocol))):
            seed = seeds[k // len(names)]
            if not (episode.depth[: episode.context] > 0).any():  # as eval revisit: nothing to start from
                print(f"{PROG}: skipping {episode.scene}: no known depth in the given frames", flush=True)
                data["skipped"].append(episode.scene)
                continue
            eid = episode_id(seed, episode.trajectory)
            write_episode(stage / eid, episode)
            data["episodes"].append({
                "id": eid, "scene": episode.scene, "seed": seed, "dynamic": bool(episode.dynamic),
                "trajectory": episode.trajectory, "num_frames": len(episode.cameras),
                "given_frames": episode.context, "height": size[0], "width": size[1],
            })
        if not data["episodes"]:
            raise RevisitError(f"no episode could be exported ({len(data['skipped'])} skipped)")
        (stage / KIT_MARKER).write_text(json.dumps(data, indent=1) + "\n")

    try:
        atomic_directory(args.out, fill, marker=KIT_MARKER)
    except ValueError as err:
        raise RevisitError(f"--out: {err}") from None
    print(f"wrote {args.out}/{KIT_MARKER} and {len(data['episodes'])} episode folders ({args.protocol}, "
          f"{size[0]}x{size[1]}, min_gap {min_gap})")
    return data
