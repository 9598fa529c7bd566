"""``python -m data_curation build``: outputs, resumption after a kill, work splitting, workers."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_curation.build import resolve_partition, run_build
from worldmem.data import ShardDataset, load_curation_config
from worldmem.data.shards import iter_shard

ROOT = Path(__file__).resolve().parents[2]
TINY = """\
image_size: [24, 24]
voxel_size: 0.05
synthetic_supersample: 1
synthetic_frames: 10
source_frames: 8
min_source_frames: 4
target_frames: 2
working_frames: 1
max_keyframes: 2
samples_per_clip: 1
clips_per_shard: 1
"""
CLIPS = 6


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="module")
def reference(tmp_path_factory, config_file):
    """An uninterrupted single-process build of synthetic:6."""
    out = tmp_path_factory.mktemp("ref") / "out"
    res = run_build([f"synthetic:{CLIPS}"], out, load_curation_config(config_file), progress=False)
    assert res.summary["complete"] and res.clips_ok == CLIPS
    return out


def cli(*args, env=None, wait=True):
    cmd = [sys.executable, "-m", "data_curation", *map(str, args)]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300)


def same_dataset(a: Path, b: Path) -> None:
    assert (a / "manifest.jsonl").read_text() == (b / "manifest.jsonl").read_text()
    assert (a / "failures.jsonl").read_text() == (b / "failures.jsonl").read_text()
    assert json.loads((a / "summary.json").read_text()) == json.loads((b / "summary.json").read_text())
    tars_a = sorted(p.name for p in (a / "shards").glob("*.tar"))
    assert tars_a == sorted(p.name for p in (b / "shards").glob("*.tar"))
    for name in tars_a:  # the same samples, byte for byte
        assert (a / "shards" / name).read_bytes() == (b / "shards" / name).read_bytes(), name
    assert not [p for p in (b / "shards").iterdir() if p.name.startswith(".")]  # no temporaries left


def test_outputs_and_rerun_skips_finished_shards(reference, config_file):
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["clips"] == {"total": CLIPS, "done": CLIPS, "ok": CLIPS, "failed": 0}
    assert summary["samples"] == {"ok": CLIPS, "failed": 0} and summary["shards"] == {"total": CLIPS, "complete": CLIPS}
    rows = [json.loads(line) for line in (reference / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == CLIPS and [r["clip_id"] for r in rows] == [f"scene-{i:07d}" for i in range(CLIPS)]
    assert all(0 <= r["coverage"] <= 1 and r["scale"] > 0 for r in rows)
    shard_keys = [k for r in rows for k, _ in iter_shard(reference / r["shard"]) if k == r["key"]]
    assert shard_keys == [r["key"] for r in rows]
    assert sorted(s.key for s in ShardDataset(reference, shuffle=False)) == sorted(r["key"] for r in rows)
    before = {p.name: p.stat().st_mtime_ns for p in (reference / "shards").iterdir()}
    res = run_build([f"synthetic:{CLIPS}"], reference, load_curation_config(config_file), progress=False)
    assert (res.shards_written, res.shards_skipped) == (0, CLIPS)
    assert {p.name: p.stat().st_mtime_ns for p in (reference / "shards").iterdir()} == before


def test_killed_run_resumes_to_the_same_manifest(reference, config_file, tmp_path):
    out = tmp_path / "out"
    rng = random.Random()
    wait_for = rng.randint(1, CLIPS - 2)  # complete shards to wait for, then a random extra delay
    proc = cli("build", "--source", f"synthetic:{CLIPS}", "--out", out, "--config", config_file, "--no-progress",
               wait=False)
    deadline = time.time() + 240
    while len(list((out / "shards").glob("shard-*.json"))) < wait_for and proc.poll() is None:
        assert time.time() < deadline, "the build made no progress"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.3))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((out / "shards").glob("shard-*.json")))
    # Killed (or, on a very fast machine, finished first); a kill may also land after the last shard, before the
    # manifest and the exit: the rerun below must complete that run too.
    assert proc.returncode in (0, -signal.SIGKILL)
    for tar in (out / "shards").glob("shard-*.tar"):  # whatever was renamed is a complete tar
        list(iter_shard(tar))
    rerun = cli("build", "--source", f"synthetic:{CLIPS}", "--out", out, "--config", config_file, "--no-progress")
    assert rerun.returncode == 0, rerun.stderr
    assert f"{done} already done" in rerun.stdout or done == CLIPS
    same_dataset(reference, out)


def test_two_processes_equal_one(reference, config_file, tmp_path):
    out = tmp_path / "out"
    a = cli("build", "--source", f"synthetic:{CLIPS}", "--out", out, "--config", config_file, "--no-progress",
            "--num-shards", 2, "--shard-id", 0, wait=False)
    # The second process gets its share as `accelerate launch` would tell it: RANK / WORLD_SIZE.
    b = cli("build", "--source", f"synthetic:{CLIPS}", "--out", out, "--config", config_file, "--no-progress",
            env={"RANK": "1", "WORLD_SIZE": "2"}, wait=False)
    for p in (a, b):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    same_dataset(reference, out)


def test_two_workers_equal_one(reference, config_file, tmp_path):
    res = run_build([f"synthetic:{CLIPS}"], tmp_path / "out", load_curation_config(config_file), workers=2,
                    progress=False)
    assert res.clips_ok == CLIPS
    same_dataset(reference, tmp_path / "out")


def test_partition_from_flags_and_environment():
    assert resolve_partition(1, 0, {}) == (1, 0)
    assert resolve_partition(3, 2, {}) == (3, 2)
    assert resolve_partition(1, 0, {"RANK": "1", "WORLD_SIZE": "4"}) == (4, 1)
    assert resolve_partition(2, 1, {"RANK": "1", "WORLD_SIZE": "2"}) == (4, 3)  # job array x processes
    for bad in ((2, 2, {}), (0, 0, {}), (1, 0, {"RANK": "2", "WORLD_SIZE": "2"}), (1, 0, {"RANK": "x"})):
        with pytest.raises(ValueError):
            resolve_partition(*bad)


def test_a_different_plan_is_refused(reference, config_file):
    with pytest.raises(ValueError, match="different sources, clips or config"):
        run_build([f"synthetic:{CLIPS + 1}"], reference, load_curation_config(config_file), progress=False)


def test_out_of_a_sibling_job_starting_the_build_is_accepted_and_a_users_folder_is_not(tmp_path):
    """A sibling job of a job array may be between writing ``plan.json``'s temporary and renaming it when this one
    checks ``--out``: what a starting build leaves is accepted, anything else of the user's is refused."""
    from data_curation.build import check_out

    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    (out / ".lock").write_text("")
    (out / f".plan.json.{os.getpid()}-k2x9.tmp").write_text("{")
    check_out(out)
    (out / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="is a non-empty folder that is not a curation build"):
        check_out(out)
