"""``python -m data_curation build --engine ray``: the local engine's bytes, resumption, failures, bad addresses.

One local 2-CPU Ray serves the module (started once: it takes seconds); ``run_build`` uses a Ray the caller has
already started and leaves it running. The command-line test starts and stops its own local Ray, as users do.
"""

import dataclasses
import json
import logging
import shutil
import socket
import sys
from pathlib import Path

import pytest
import ray

from data_curation import build, ray_engine
from data_curation.build import run_build
from tests.data import fixtures
from tests.data_curation import test_build
from tests.data_curation.test_build import CLIPS, cli, same_dataset
from worldmem.data import load_curation_config

config_file, reference = test_build.config_file, test_build.reference  # its fixtures (this module's instances)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


def all_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included), by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_bytes(a: Path, b: Path) -> None:
    files_a, files_b = all_files(a), all_files(b)
    assert sorted(files_a) == sorted(files_b)
    assert "plan.json" in files_a and any(name.endswith(".json") and "shards" in name for name in files_a)
    for name, data in files_a.items():
        assert data == files_b[name], name


def closed_port() -> int:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ray_writes_the_local_engines_bytes(local_ray, reference, config_file, tmp_path):
    out = tmp_path / "out"
    res = run_build([f"synthetic:{CLIPS}"], out, load_curation_config(config_file), workers=2, engine="ray",
                    progress=False)
    assert (res.shards_written, res.shards_skipped, res.clips_ok) == (CLIPS, 0, CLIPS)
    assert_same_bytes(reference, out)  # shards, their indexes, manifest, failures, summary and plan.json
    assert ray.is_initialized()  # a Ray the caller started is left to the caller


@pytest.mark.slow
def test_failures_and_out_of_order_results_as_the_local_engine(local_ray, config_file, tmp_path, monkeypatch):
    """Failing clips land in failures.jsonl as with the local engine, and shards of several clips keep plan order
    however the clips come back (here: all of them in reverse)."""
    frames, depth, cams = fixtures.rendered()
    ms = tmp_path / "megasam"
    fixtures.write_megasam(ms / "ms_good.npz", frames, depth, cams)
    fixtures.write_megasam(ms / "ms_short.npz", frames[:3], depth[:3], cams[:3])
    (ms / "ms_corrupt.npz").write_bytes(b"PK\x03\x04 truncated zip")
    sources = ["synthetic:3", f"megasam:{ms}"]
    config = dataclasses.replace(load_curation_config(config_file), clips_per_shard=3)
    local = run_build(sources, tmp_path / "local", config, workers=2, progress=False)

    real = ray_engine.RayRunner.imap_unordered
    orders = []

    def last_first(self, fn, tasks):
        got = sorted(real(self, fn, tasks), key=lambda r: r[0])[::-1]
        orders.append([i for i, _ in got])
        yield from got

    monkeypatch.setattr(ray_engine.RayRunner, "imap_unordered", last_first)
    res = run_build(sources, tmp_path / "ray", config, workers=2, engine="ray", progress=False)
    assert orders == [[5, 4, 3, 2, 1, 0]]
    assert (res.clips_ok, res.clips_failed) == (local.clips_ok, local.clips_failed) == (4, 2)
    assert_same_bytes(tmp_path / "local", tmp_path / "ray")
    failures = [json.loads(line) for line in (tmp_path / "ray" / "failures.jsonl").read_text().splitlines()]
    by_clip = {f["clip_id"]: f for f in failures}
    assert set(by_clip) == {"ms_corrupt", "ms_short"}
    assert "unreadable npz" in by_clip["ms_corrupt"]["reason"] and "too short" in by_clip["ms_short"]["reason"]
    assert all(f["stage"] == "clip" and f["key"] is None for f in failures)


@pytest.mark.slow
def test_a_stopped_ray_build_resumes_to_the_same_bytes(local_ray, reference, config_file, tmp_path, monkeypatch):
    out, config = tmp_path / "out", load_curation_config(config_file)
    real, written = build._write_shard, []

    def stop_after_two(folder, shard, results, plan_hash):
        if len(written) == 2:
            raise KeyboardInterrupt  # as a Ctrl-C between two shards
        real(folder, shard, results, plan_hash)
        written.append(shard)

    monkeypatch.setattr(build, "_write_shard", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_build([f"synthetic:{CLIPS}"], out, config, workers=2, engine="ray", progress=False)
    monkeypatch.setattr(build, "_write_shard", real)
    assert sorted(p.name for p in (out / "shards").glob("*.json")) == [f"shard-{s:06d}.json" for s in sorted(written)]
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    res = run_build([f"synthetic:{CLIPS}"], out, config, workers=2, engine="ray", progress=False)
    assert (res.shards_written, res.shards_skipped) == (CLIPS - 2, 2)
    assert all((out / "shards" / name).stat().st_mtime_ns == t for name, t in before.items())  # not rewritten
    assert_same_bytes(reference, out)
    same_dataset(reference, out)


@pytest.mark.slow
def test_command_line_starts_its_own_ray(reference, config_file, tmp_path):
    out = tmp_path / "out"
    # A local build that stopped with shard 1 missing; the rerun with --engine ray writes only that one.
    shutil.copytree(reference, out)
    for suffix in ("json", "tar"):
        (out / "shards" / f"shard-000001.{suffix}").unlink()
    run = cli("build", "--engine", "ray", "--workers", "2", "--source", f"synthetic:{CLIPS}", "--out", out,
              "--config", config_file)
    assert run.returncode == 0, run.stderr
    assert f"1 shards written, {CLIPS - 1} already done" in run.stdout
    assert "curate out [0/1]" in run.stderr  # the progress bar
    assert_same_bytes(reference, out)


@pytest.mark.parametrize("argv, message", [
    (["--address", "auto"], "--address auto: only with --engine ray"),
    (["--engine", "ray", "--address", "127.0.0.1:{port}"], "--address 127.0.0.1:{port}: no Ray cluster answers"),
    (["--engine", "ray", "--address", "nonsense"], "--address nonsense: expected auto, HOST:PORT or ray://HOST:PORT"),
    (["--engine", "spark"], "argument --engine: invalid choice: 'spark'"),
])
def test_bad_engine_arguments_are_one_line_before_any_output(tmp_path, capsys, argv, message):
    from data_curation.cli import main

    port = closed_port()
    argv = [a.format(port=port) for a in argv]
    with pytest.raises(SystemExit) as err:
        main(["build", "--source", "synthetic:1", "--out", str(tmp_path / "out"), "--no-progress", *argv])
    assert err.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m data_curation build: error: ")
    assert message.format(port=port) in lines[0]
    assert not (tmp_path / "out").exists()


def test_without_ray_installed_the_error_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ValueError, match=r'--engine ray: the ray package is not installed; pip install -e "\.\[ray\]"'):
        run_build(["synthetic:1"], tmp_path / "out", engine="ray", progress=False)
    assert not (tmp_path / "out").exists()
