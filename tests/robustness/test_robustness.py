"""Every entry point refuses broken input in one line naming it, before any work, leaving no partial output.

The table is :mod:`tests.robustness.table` (``python -m tests.robustness.sweep`` prints its counts). Commands run
in this process through their ``main(argv)``; a few subprocesses check the real exit status and stderr.
"""

import os
import subprocess
import sys

import pytest

from tests.robustness import fixtures as fx
from tests.robustness.runner import COMMANDS, GROUPS, RECORDED, Case, run_case
from tests.robustness.table import CASES, counts, sweep


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return tmp_path_factory.mktemp("shared")


def test_the_table_covers_every_entry_point():
    entries = {c.entry for c in CASES}
    assert len(CASES) >= 100
    assert set(COMMANDS) <= entries
    assert {"load_pipeline", "WorldMemory.load", "Cameras.from_dict", "cameras.json", "render_points", "trajectories",
            "paths", "SparseTSDF", "WorldMemPipeline", "train config"} <= entries
    assert {c.name.split()[0] for c in CASES if c.entry == "python -m eval"} == {"revisit", "bench", "plot-paths",
                                                                                "scale-fit"}
    assert len({(c.entry, c.name) for c in CASES}) == len(CASES)  # each case is named once
    second = [c for c in CASES if c.group != "values"]  # the second sweep: structure, paths, faults, sizes, ...
    assert len(second) >= 100 and {c.group for c in second} == set(GROUPS) - {"values"}


SLOW_GROUPS = {"faults"}  # runs killed with SIGKILL, then rerun: seconds each (`make test-fast` skips them)


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c.group in SLOW_GROUPS else c
                                  for c in CASES], ids=[f"{c.entry}: {c.name}" for c in CASES])
def test_broken_input_is_refused_in_one_line(case, shared, tmp_path):
    outcome, detail = run_case(case, tmp_path / "case", shared)
    RECORDED.append((case, outcome, detail))
    assert outcome == "clean", detail


def _raise(exc):
    def build(tmp, base):
        raise exc
    return build


def test_the_runner_tells_every_outcome_apart(shared, tmp_path):
    def partial(tmp, base):
        (tmp / "out").mkdir()
        raise ValueError("x: bad")

    cases = [Case("api", "refused", _raise(ValueError("x: expected 1, got 2")), "x:"),
             Case("api", "accepted", lambda t, b: None, "x"),
             Case("api", "another type", _raise(KeyError("x")), "x"),
             Case("api", "two lines", _raise(ValueError("x: a\nb")), "x"),
             Case("api", "unnamed", _raise(ValueError("bad value")), "x:"),
             Case("api", "left output", partial, "x:", ("out",)),
             Case("worldmem generate", "usage accepted", lambda t, b: ["--help"], "x"),
             Case("python -m train", "refused", lambda t, b: ["--config", str(t / "none.yaml")], "none.yaml")]
    got = [outcome for _, outcome, _ in sweep(tmp_path, cases)]
    assert got == ["clean", "silent", "traceback", "vague", "vague", "partial", "silent", "clean"]
    assert counts(sweep(tmp_path / "again", cases[:2])) == {"tried": 2, "clean": 1, "vague": 0, "traceback": 0,
                                                            "silent": 1, "partial": 0, "hang": 0, "data loss": 0,
                                                            "escape": 0}


def test_the_runner_tells_the_second_sweeps_outcomes_apart(shared, tmp_path):
    import time

    from tests.robustness.runner import DataLoss

    def mine(tmp, base):
        fx.write(tmp / "mine" / "notes.txt", "keep me")

    def spin(tmp, base):
        while True:
            time.sleep(0.01)

    def read_outside(tmp, base):
        (fx.outside(base) / "secret.png").read_bytes()
        raise ValueError("x: bad")

    def echo(tmp, base):
        raise ValueError(f"x: bad line {(fx.outside(base) / 'secret.txt').read_text().strip()}")

    cases = [Case("api", "spins", spin, "x", group="hangs", timeout=0.5),
             Case("api", "deletes the user's file", lambda t, b: (t / "mine" / "notes.txt").unlink(), "x",
                  group="outputs", setup=mine, wants="success"),
             Case("api", "changes it, allowed", lambda t, b: (t / "mine" / "notes.txt").write_text("v2"), "x",
                  group="outputs", setup=mine, wants="success", may_change=("mine/notes.txt",)),
             Case("api", "reads the honeypot", read_outside, "x:", group="paths"),
             Case("api", "echoes a secret", echo, "x:", group="paths"),
             Case("api", "says it lost data", _raise(DataLoss("gone")), "x", group="faults"),
             Case("api", "wanted success, refused", _raise(ValueError("x: no")), "x", group="faults", wants="success"),
             Case("api", "wanted success", lambda t, b: None, "x", group="faults", wants="success")]
    got = [outcome for _, outcome, _ in sweep(tmp_path, cases)]
    assert got == ["hang", "data loss", "clean", "escape", "escape", "data loss", "vague", "clean"]


def test_lr_written_1e_minus_4_is_accepted_as_a_float(tmp_path):
    from train.config import load_config

    cfg = load_config(None, ["optim.lr=1e-4", "optim.warmup_steps=0"])
    assert isinstance(cfg.optim.lr, float) and cfg.optim.lr == 1e-4
    assert load_config(fx.write(tmp_path / "lr.yaml", "optim: {lr: 3E-4}\n")).optim.lr == 3e-4


@pytest.mark.slow
@pytest.mark.parametrize("argv, prefix, names", [
    (["-m", "worldmem.cli", "generate", "--random-init", "--scene", "synthetic:1", "--steps", "0", "--out", "OUT"],
     "worldmem generate: error: ", "--steps"),
    (["-m", "eval", "bench", "geometry", "--repeats", "0"], "python -m eval bench: error: ", "--repeats"),
    (["-m", "train", "--config", "configs/tiny.yaml", "optim.grad_clip=-1"], "python -m train: error: ",
     "optim.grad_clip"),
    (["-m", "data_curation", "build", "--source", "synthetic:1"], "python -m data_curation build: error: ", "--out"),
])
def test_the_real_command_lines_exit_2_with_one_line(argv, prefix, names, tmp_path):
    argv = [str(tmp_path / "o") if a == "OUT" else a for a in argv]
    run = subprocess.run([sys.executable, *argv], cwd=fx.ROOT, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    err = run.stderr.strip()
    assert run.returncode == 2 and "\n" not in err and err.startswith(prefix) and names in err, run.stderr[-500:]
    assert not (tmp_path / "o").exists()
