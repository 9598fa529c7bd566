"""``python -m data_curation build``: sources -> resumable, sharded training samples.

The plan: all clips of all ``--source`` arguments in a fixed order (sources as given, clips as each reader
lists them), cut into shards of ``clips_per_shard`` consecutive clips. Shard ``s`` belongs to partition
``s % parts`` where ``parts = num_shards * WORLD_SIZE`` (``--num-shards`` / ``--shard-id`` for job arrays,
``RANK`` / ``WORLD_SIZE`` as set by ``accelerate launch`` or ``torchrun``), so any number of processes can
build one output folder together and the union is the same as one process would write.

Output folder::

    plan.json                 the sources, the config and the clip list (a rerun must match it); with
                              --captions the clips' captions, with --text-encoder its folder and length
    shards/shard-NNNNNN.tar   samples (see worldmem.data.shards), written under a temporary name, renamed
    shards/shard-NNNNNN.json  the shard's index (clips, manifest rows, failures); written after the tar,
                              so it marks the shard complete: a rerun skips complete shards
    manifest.jsonl            one row per sample, in shard order
    failures.jsonl            one row per failed clip or chunk, with a one-line reason
    summary.json              ok / failed counts of clips and samples, shards complete

The three summary files are rebuilt from the shard indexes (under a file lock) whenever a process finishes,
so an interrupted run that is resumed ends with the same files as an uninterrupted one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import multiprocessing
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from worldmem.data.builder import build_clip_samples, sample_key, single_thread
from worldmem.data.clip import ClipError, ClipRef
from worldmem.data.config import CurationConfig
from worldmem.data.media import DEPTH_TO_ESTIMATE
from worldmem.data.readers import READERS, OutsidePathError, parse_source
from worldmem.data.shards import SHARD_DIR, shard_index_name, shard_name, write_shard
from worldmem.utils.io import atomic_write, atomic_write_json

__all__ = ["BuildResult", "make_plan", "resolve_partition", "run_build", "curate_clip", "finalize"]

PLAN_VERSION = 1
ENGINES = ("local", "ray")  # where curate_clip runs; not part of the plan: both write the same bytes
_MANIFEST_FIELDS = ("key", "source", "clip_id", "source_range", "target_indices", "scale", "coverage",
                    "surface_coverage", "overlap", "revisit_score", "revisit", "render_psnr")


@dataclass
class BuildResult:
    """What one ``run_build`` call did (this process) and the dataset's summary afterwards."""

    shards_written: int
    shards_skipped: int
    clips_ok: int
    clips_failed: int
    samples: int
    seconds: float
    summary: dict
    outside: list[str] = field(default_factory=list)
    """``"SOURCE:CLIP_ID: reason"`` of each clip of this run that names files outside its dataset folder (not
    read; recorded in failures.jsonl like any failed clip). ``python -m data_curation build`` exits 2 on them."""


MAX_RAY_WORKERS = 1024
"""The most Ray tasks in flight with ``--engine ray`` (``--workers``); with ``--engine local`` the bound is the number
of CPUs this process may use (:func:`usable_cpus`): more processes than cores only contend."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity masks
        return os.cpu_count() or 1


def _normalise_source(spec: str) -> str:
    kind, path = parse_source(spec)
    return f"{kind}:{path}" if kind == "synthetic" else f"{kind}:{os.path.abspath(path)}"


def make_plan(sources: list[str], config: CurationConfig, depth_dir: str | None, captions: dict | None = None,
              text: dict | None = None, depth_estimator: dict | None = None, allow_outside_paths: bool = False) -> dict:
    """The clip list and everything that determines the output; ``ValueError`` for a bad source.

    ``captions``: ``{clip_id: caption}`` (data_curation.captions); ``text``: ``{"encoder", "max_length"}``;
    ``depth_estimator``: the estimator's entry (data_curation.depth); ``allow_outside_paths``: the user's opt-in
    to read files that a dataset names outside its folder (recorded only when set, so plans without it keep
    their hash).
    """
    if not sources:
        raise ValueError("expected at least one --source KIND:PATH")
    specs = [_normalise_source(s) for s in sources]
    clips, seen = [], {}
    for spec in specs:
        kind, path = parse_source(spec)
        for ref in READERS[kind].list_clips(path):
            key = sample_key(ref.source, ref.clip_id, 0)
            if key in seen:
                raise ValueError(f"duplicate clip id {ref.clip_id!r} ({seen[key]} and {ref.path}); clip ids must "
                                 "be unique per kind")
            seen[key] = ref.path
            clips.append(ref.to_dict())
    plan = {"format_version": PLAN_VERSION, "sources": specs, "config": config.to_dict(),
            "depth_dir": None if depth_dir is None else os.path.abspath(depth_dir), "clips": clips,
            "num_shards": math.ceil(len(clips) / config.clips_per_shard)}
    if captions is not None:  # only the plan's clips, so a shared captions file does not change the hash
        plan["captions"] = {c["clip_id"]: captions[c["clip_id"]] for c in clips if c["clip_id"] in captions}
    if text is not None:
        plan["text"] = text
    if depth_estimator is not None:
        plan["depth_estimator"] = depth_estimator
    if allow_outside_paths:
        plan["allow_outside_paths"] = True
    plan["plan_hash"] = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]
    return plan


def resolve_partition(num_shards: int, shard_id: int, env: dict | None = None) -> tuple[int, int]:
    """(parts, part) from ``--num-shards/--shard-id`` and ``RANK``/``WORLD_SIZE`` (accelerate, torchrun)."""
    env = os.environ if env is None else env
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"--num-shards/--shard-id: expected 0 <= shard-id < num-shards, got {shard_id}, {num_shards}")
    try:
        world, rank = int(env.get("WORLD_SIZE", "1")), int(env.get("RANK", "0"))
    except ValueError:
        raise ValueError("RANK/WORLD_SIZE: expected integers in the environment") from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK/WORLD_SIZE: expected 0 <= RANK < WORLD_SIZE, got {rank}, {world}")
    return num_shards * world, shard_id * world + rank


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return (text if isinstance(err, ClipError) else f"{type(err).__name__}: {text}")[:400] or type(err).__name__


def curate_clip(ref: dict, config: CurationConfig, depth_dir: str | None, caption: str | None = None,
                depth_estimator: dict | None = None, allow_outside: bool = False) -> dict:
    """Loads and curates one clip on one torch thread; never raises for bad data (returns the reason instead).
    ``caption`` (from a captions file) replaces the one the source's metadata may give; ``depth_estimator`` (a
    plan entry, data_curation.depth) gives depth to clips whose reader has none; ``allow_outside``: the reader
    may follow paths out of the clip's folder (else such a clip fails unread, with ``out["outside"]`` set)."""
    clip_ref = ClipRef(**ref)
    out = {"ref": ref, "reason": None, "samples": [], "failures": [], "outside": False}
    try:
        with single_thread():
            clip = READERS[clip_ref.source].load_clip(
                clip_ref, config, DEPTH_TO_ESTIMATE if depth_estimator is not None else depth_dir,
                allow_outside=allow_outside)
            if depth_estimator is not None and not bool((clip.depth > 0).any()):  # the reader had no depth
                from data_curation.depth import estimate_clip_depth

                clip = estimate_clip_depth(clip, depth_estimator)
            if caption is not None:
                clip.meta["caption"] = caption
            samples, failures = build_clip_samples(clip, config)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as err:  # any defect of one clip is recorded, never fatal for the run
        out["reason"], out["outside"] = _one_line(err), isinstance(err, OutsidePathError)
        return out
    for s in samples:
        out["samples"].append((s.key, s.to_bytes(), {k: s.meta[k] for k in _MANIFEST_FIELDS} | {
            "num_keyframes": len(s.meta["keyframe_indices"]), "dynamic": s.meta["clip"].get("dynamic")}
            | ({} if s.caption is None else {"caption": s.caption})))
    out["failures"] = failures
    if not samples:
        out["reason"] = f"no usable target chunk ({failures[0][1]})" if failures else "no usable target chunk"
    return out


def _worker_init() -> None:
    torch.set_num_threads(1)


def _curate_indexed(item: tuple[int, tuple]) -> tuple[int, tuple[int, dict]]:
    return item[0], _curate_task(item[1])


def _curate_task(task: tuple) -> tuple[int, dict]:
    shard, ref, config, depth_dir, caption, depth_estimator, allow_outside = task
    return shard, curate_clip(ref, config, depth_dir, caption, depth_estimator, allow_outside)


def _write_shard(folder: Path, shard: int, results: list[dict], plan_hash: str) -> None:
    tar = shard_name(shard)
    samples, rows, failures, clips = [], [], [], []
    for r in results:
        ref = r["ref"]
        for key, files, row in r["samples"]:
            samples.append((key, files))
            rows.append({**row, "shard": f"{SHARD_DIR}/{tar}"})
        for key, reason in r["failures"]:
            failures.append({**ref, "key": key, "stage": "sample", "reason": reason, "shard": shard})
        if r["reason"] is not None:
            failures.append({**ref, "key": None, "stage": "clip", "reason": r["reason"], "shard": shard})
        clips.append({**ref, "ok": r["reason"] is None, "samples": len(r["samples"])})
    info = write_shard(folder / tar, samples)
    index = {"format_version": PLAN_VERSION, "shard": shard, "tar": tar, "plan_hash": plan_hash, **info,
             "clips": clips, "samples": rows, "failures": failures}
    atomic_write_json(folder / shard_index_name(shard), index)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)


def finalize(out: Path, plan: dict) -> dict:
    """Rebuilds manifest.jsonl, failures.jsonl and summary.json from the complete shards; returns the summary."""
    folder = out / SHARD_DIR
    with _locked(out / ".lock"):
        for name in ("manifest.jsonl", "failures.jsonl", "summary.json"):  # temporaries of a killed finalize
            for stale in out.glob(f".{name}.*"):
                stale.unlink(missing_ok=True)
        indexes = []
        for s in range(plan["num_shards"]):
            p = folder / shard_index_name(s)
            if p.is_file():
                indexes.append(json.loads(p.read_text()))
        manifest = [row for idx in indexes for row in idx["samples"]]
        failures = [row for idx in indexes for row in idx["failures"]]
        clips = [c for idx in indexes for c in idx["clips"]]
        summary = {
            "plan_hash": plan["plan_hash"],
            "sources": plan["sources"],
            "complete": len(indexes) == plan["num_shards"],
            "shards": {"total": plan["num_shards"], "complete": len(indexes)},
            "clips": {"total": len(plan["clips"]), "done": len(clips), "ok": sum(c["ok"] for c in clips),
                      "failed": sum(not c["ok"] for c in clips)},
            "samples": {"ok": len(manifest), "failed": sum(f["stage"] == "sample" for f in failures)},
        }
        for name, text in (("manifest.jsonl", _jsonl(manifest)), ("failures.jsonl", _jsonl(failures))):
            atomic_write(out / name, lambda tmp, t=text: Path(tmp).write_text(t))
        atomic_write_json(out / "summary.json", summary)
    return summary


def _starting_build(name: str) -> bool:
    """Whether ``name`` in a build folder without ``plan.json`` is what a sibling job of a job array leaves while it
    starts the build: ``shards/``, ``.lock``, or its ``plan.json`` being written (``.plan.json.PID-XXXX.tmp``, the
    temporary :func:`~worldmem.utils.io.atomic_write_json` renames)."""
    return name in (SHARD_DIR, ".lock") or (name.startswith(".plan.json.") and name.endswith(".tmp"))


def check_out(out: Path) -> None:
    """Refuses an ``--out`` that is a non-empty folder but not a build's (no ``plan.json``; a folder holding only
    what :func:`_starting_build` names is a build that a sibling job has just started): a build writes into its
    folder, and must not write (or clean temporaries) among the user's files."""
    if out.is_dir() and not (out / "plan.json").is_file() and not all(_starting_build(p.name) for p in out.iterdir()):
        raise ValueError(f"--out: {out} is a non-empty folder that is not a curation build (no plan.json); choose "
                         f"a new or empty folder")


def _check_plan(out: Path, plan: dict) -> None:
    path = out / "plan.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text()).get("plan_hash")
        except (json.JSONDecodeError, AttributeError):
            old = None
        if old != plan["plan_hash"]:
            raise ValueError(f"{out} holds a build with different sources, clips or config (plan.json); "
                             "use a new --out or the same arguments")
    else:
        atomic_write_json(path, plan)


def _pending(folder: Path, shards: list[int], plan_hash: str) -> list[int]:
    todo = []
    for s in shards:
        idx = folder / shard_index_name(s)
        done = False
        if idx.is_file() and (folder / shard_name(s)).is_file():
            try:
                done = json.loads(idx.read_text()).get("plan_hash") == plan_hash
            except json.JSONDecodeError:
                done = False
        if not done:
            todo.append(s)
            for stale in folder.glob(f".shard-{s:06d}.*"):  # temporaries of a killed run
                stale.unlink(missing_ok=True)
    return todo


def run_build(sources: list[str], out: str | os.PathLike, config: CurationConfig | None = None,
              num_shards: int = 1, shard_id: int = 0, workers: int = 1, depth_dir: str | None = None,
              progress: bool = True, env: dict | None = None, captions: str | os.PathLike | None = None,
              text_encoder: str | os.PathLike | None = None, text_max_length: int = 226, engine: str = "local",
              address: str | None = None, depth_estimator: str | None = None, depth_batch_size: int = 8,
              depth_output: str = "auto", allow_outside_paths: bool = False) -> BuildResult:
    """Builds (or resumes) this process's share of the shards and refreshes the summary files.

    ``engine``: ``local`` (``workers`` processes here) or ``ray`` (``workers`` Ray tasks in flight on the cluster
    at ``address``, or on a local Ray; data_curation/ray_engine.py); both write the same bytes.

    ``captions``: a captions file; ``text_encoder``: a local text encoder folder whose embeddings of the captions
    (``text_max_length`` tokens) the samples store (data_curation.captions).

    ``depth_estimator``: ``KIND:PATH`` of a monocular depth model for clips without depth, run ``depth_batch_size``
    frames at a time, its output (``depth_output``: auto, depth or disparity) fitted to each clip's cameras
    (data_curation.depth); not together with ``depth_dir``.

    ``allow_outside_paths``: read files that a dataset names outside its folder (absolute paths, ``../``, links
    to elsewhere); by default such a clip fails unread and is listed in ``BuildResult.outside``.
    """
    t_start = time.perf_counter()
    config = config or CurationConfig()
    if workers < 1:
        raise ValueError(f"--workers: expected an int >= 1, got {workers}")
    most = usable_cpus() if engine == "local" else MAX_RAY_WORKERS
    if workers > most:
        raise ValueError(f"--workers: expected at most {most} ("
                         + ("the CPUs this process may use" if engine == "local" else "MAX_RAY_WORKERS")
                         + f"), got {workers}")
    if engine not in ENGINES:
        raise ValueError(f"--engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    if address is not None and engine != "ray":
        raise ValueError(f"--address {address}: only with --engine ray")
    if depth_dir is not None and not Path(depth_dir).is_dir():
        raise ValueError(f"--depth-dir {depth_dir}: not a folder")
    if depth_dir is not None and depth_estimator is not None:
        raise ValueError("--depth-dir and --depth-estimator: expected one of them, not both")
    parts, part = resolve_partition(num_shards, shard_id, env)
    from data_curation.captions import CaptionEmbedder, read_captions

    embedder = None if text_encoder is None else CaptionEmbedder(text_encoder, text_max_length)
    if embedder is not None:
        embedder.load()  # a broken text encoder is reported before any work
    text = None if embedder is None else {"encoder": str(embedder.path.resolve()), "max_length": embedder.max_length}
    estimator = None
    if depth_estimator is not None:  # loaded here too, so a broken folder is reported before any work
        from data_curation.depth import estimator_entry

        estimator = estimator_entry(depth_estimator, depth_output, depth_batch_size)
    plan = make_plan(sources, config, depth_dir, None if captions is None else read_captions(captions), text,
                     estimator, allow_outside_paths)
    cluster = None
    if engine == "ray":  # connected before any output: a wrong --address leaves nothing behind
        from data_curation.ray_engine import RayRunner

        cluster = RayRunner.connect(address, workers)
    bar = pool = None
    try:
        out = Path(out)
        check_out(out)
        folder = out / SHARD_DIR
        folder.mkdir(parents=True, exist_ok=True)
        _check_plan(out, plan)
        mine = [s for s in range(plan["num_shards"]) if s % parts == part]
        todo = _pending(folder, mine, plan["plan_hash"])
        cps = config.clips_per_shard
        caption_of = plan.get("captions", {})
        tasks = [(s, ref, config, plan["depth_dir"], caption_of.get(ref["clip_id"]), plan.get("depth_estimator"),
                  plan.get("allow_outside_paths", False))
                 for s in todo
                 for ref in plan["clips"][s * cps:(s + 1) * cps]]
        expected = {s: len(plan["clips"][s * cps:(s + 1) * cps]) for s in todo}
        results: dict[int, dict[int, dict]] = {s: {} for s in todo}  # shard -> {task index: result}
        ok = failed = samples = 0
        outside = []
        bar = tqdm(total=len(tasks), unit="clip", desc=f"curate {out.name} [{part}/{parts}]", disable=not progress)
        if cluster is not None:  # results as they complete (both engines), each put back at its index
            stream = cluster.imap_unordered(_curate_task, tasks)
        elif workers > 1 and len(tasks) > 1:
            pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), initializer=_worker_init)
            stream = pool.imap_unordered(_curate_indexed, enumerate(tasks), chunksize=1)
        else:
            stream = enumerate(map(_curate_task, tasks))
        for i, (shard, result) in stream:
            results[shard][i] = result if embedder is None else embedder(result)
            ok, failed = ok + (result["reason"] is None), failed + (result["reason"] is not None)
            samples += len(result["samples"])
            if result.get("outside"):
                outside.append(f"{result['ref']['source']}:{result['ref']['clip_id']}: {result['reason']}")
            bar.update(1)
            bar.set_postfix(ok=ok, failed=failed, samples=samples)
            if len(results[shard]) == expected[shard]:  # in plan order, whatever order they came back in
                done = results.pop(shard)
                _write_shard(folder, shard, [done[j] for j in sorted(done)], plan["plan_hash"])
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
        if cluster is not None:
            cluster.close()
    for shard in [s for s in results if expected[s] == 0]:
        _write_shard(folder, shard, [], plan["plan_hash"])
    summary = finalize(out, plan)
    return BuildResult(shards_written=len(todo), shards_skipped=len(mine) - len(todo), clips_ok=ok,
                       clips_failed=failed, samples=samples, seconds=time.perf_counter() - t_start, summary=summary,
                       outside=outside)
