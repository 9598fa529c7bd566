"""The camera path of a ``worldmem generate`` run and the record of it that the saved memory keeps.

A path record (``memory.metadata["path"]``) is ``{"trajectory", "num_frames", "scene", "anchor",
"anchor_index"}``: the registry path's name, its whole length, and either the synthetic scene whose free box it
is fitted to (``scene: "synthetic:SEED"``) or the camera it starts at (``anchor``, a :meth:`Cameras.to_dict`, at
frame ``anchor_index``). :func:`path_cameras` rebuilds the path's cameras from a record, so ``--resume-memory``
goes on along the same cameras. Bad input raises :class:`~worldmem.utils.cli_errors.UsageError` naming the flag.
"""

from __future__ import annotations

from worldmem.utils.cli_errors import UsageError

__all__ = ["anchor_record", "check_record", "check_stop", "keys_of", "path_cameras", "resume_path", "scene_record",
           "scene_seed"]


def keys_of(trajectory: str) -> str | None:
    """The keys of a key path (``keys:WWAADD`` -> ``WWAADD``), else None."""
    from worldmem.geometry.paths import KEYS_PREFIX

    return trajectory[len(KEYS_PREFIX):] if trajectory.startswith(KEYS_PREFIX) else None


def scene_seed(scene: str) -> int:
    """The seed of ``--scene synthetic:SEED``."""
    kind, _, seed = scene.partition(":")
    if kind != "synthetic" or not seed.lstrip("-").isdigit():
        raise UsageError(f"--scene: expected synthetic:SEED (an integer seed), got {scene!r}")
    return int(seed)


def scene_record(trajectory: str, scene: str, num_frames: int) -> dict:
    """The record of a path fitted to a synthetic scene's free box."""
    return {"trajectory": trajectory, "num_frames": num_frames, "scene": scene, "anchor": None, "anchor_index": None}


def anchor_record(trajectory: str, anchor, anchor_index: int, num_frames: int) -> dict:
    """The record of a path that starts at camera ``anchor`` (frame ``anchor_index``)."""
    return {"trajectory": trajectory, "num_frames": num_frames, "scene": None, "anchor": anchor.to_dict(),
            "anchor_index": anchor_index}


def check_record(record, num_frames: int) -> str | None:
    """What is wrong with the path ``record`` a saved memory of ``num_frames`` frames holds, or None."""
    from worldmem.geometry.trajectories import MAX_PATH_FRAMES

    if not isinstance(record, dict) or set(record) != {"trajectory", "num_frames", "scene", "anchor", "anchor_index"}:
        return f"expected an object with trajectory, num_frames, scene, anchor, anchor_index, got {record!r}"[:200]
    n, i = record["num_frames"], record["anchor_index"]
    if isinstance(n, bool) or not isinstance(n, int) or n < num_frames:
        return f"num_frames: expected an int >= the memory's {num_frames} frames, got {n!r}"
    if n > MAX_PATH_FRAMES:
        return f"num_frames: expected at most {MAX_PATH_FRAMES} (MAX_PATH_FRAMES), got {n!r}"
    if not isinstance(record["trajectory"], str):
        return f"trajectory: expected a path name, got {record['trajectory']!r}"
    if (record["scene"] is None) == (record["anchor"] is None):
        return "expected exactly one of scene and anchor"
    if record["anchor"] is not None and (isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n):
        return f"anchor_index: expected an int in [0, {n}), got {i!r}"
    return None


def path_cameras(record: dict, frame_size: tuple[int, int]):
    """The ``record["num_frames"]`` cameras of the recorded path, for ``frame_size`` ((height, width)) images. A
    scene path is the registry path fitted to the scene's free box; an anchored one is the path that starts at
    camera ``anchor`` (frame ``anchor_index``, whose earlier frames are given or remembered and stand in as copies
    of it) in :data:`~worldmem.geometry.paths.DEFAULT_BOX` (:func:`~worldmem.geometry.paths.continue_path`)."""
    from worldmem.geometry import Cameras
    from worldmem.geometry.paths import continue_path, make_path

    n = record["num_frames"]
    try:
        if record["scene"] is not None:
            from worldmem.synthetic import SyntheticScene

            box = SyntheticScene.random(seed=scene_seed(record["scene"])).free_box
            return make_path(record["trajectory"], box, n, *frame_size)
        anchor, i = Cameras.from_dict(record["anchor"]), record["anchor_index"]
        path = continue_path(record["trajectory"], anchor, n - i)
    except ValueError as err:
        raise UsageError(f"--trajectory: {err}") from None
    before = Cameras(path.cam_from_world[:1].expand(i, 4, 4), path.K[:1].expand(i, 3, 3), path.height, path.width)
    return Cameras.cat([before, path])


def resume_path(args, memory, frame_size: tuple[int, int]):
    """(cameras of the whole path up to where this run stops, its record) for ``--resume-memory``: the memory's
    unfinished recorded path, else a new path of ``--trajectory`` that starts at the memory's last camera."""
    k, where = memory.num_frames, f"the memory in {args.resume_memory}"
    record = memory.metadata.get("path")
    if record is not None:
        problem = check_record(record, k)
        if problem:
            raise UsageError(f"--resume-memory: {args.resume_memory}: memory.json: metadata.path: {problem}")
    if record is not None and record["num_frames"] > k:  # an unfinished path: go on along it
        for flag, name in (("--trajectory", "trajectory"), ("--scene", "scene")):
            if args.explicit[name] and getattr(args, name) != record[name]:
                raise UsageError(f"{flag}: {where} continues the path {record['trajectory']!r}"
                                 f"{' in ' + record['scene'] if record['scene'] else ''} (frame {k} of "
                                 f"{record['num_frames']}), got {getattr(args, name)!r}")
        left = record["num_frames"] - k
        new = args.num_frames if args.explicit["num_frames"] else left
        if new > left:
            raise UsageError(f"--num-frames: {where} has {left} frames of its path left, got {new}")
        return path_cameras(record, frame_size)[:k + new], record
    if args.scene is not None:
        raise UsageError(f"--scene: {where} holds no unfinished path to continue in a scene (a run with --stop-after "
                         "leaves one); without --scene a new path starts at its last camera")
    keys = keys_of(args.trajectory)
    record = anchor_record(args.trajectory, memory.last_camera()[0], k - 1,
                           k + (len(keys) if keys is not None else args.num_frames))
    return path_cameras(record, frame_size), record


def check_stop(flag: str, stop: int, first: int, chunk: int, total: int) -> None:
    """A run that stops before the path's end stops at the end of a chunk, so that resuming is exact."""
    if stop < total and (stop <= first or (stop - first) % chunk):
        raise UsageError(f"{flag}: a run that stops before the path's {total} frames stops at the end of a chunk "
                         f"(frame {first} + a multiple of the chunk size {chunk}: {first + chunk}, {first + 2 * chunk}, "
                         f"...) so that --resume-memory continues it exactly, got frame {stop}")
