"""Output folders and killed runs (the second sweep's groups ``outputs`` and ``faults``).

``outputs``: every command that writes a folder refuses one it did not write (the user's files survive: the
runner snapshots them before the call), and refuses outputs that are, hold or lie inside one another or an input;
its own previous folder, or an empty one, it takes.

``faults``: a real ``SIGKILL`` of a command in a subprocess at a chosen point (while its folder is built, between
the two steps of the folder swap, while a checkpoint or the final pipeline is saved, in the middle of a curation
build). The case then checks that what the user had is there or recoverable (else :class:`DataLoss`), and the
runner reruns the same command in this process: it must succeed and leave no temporary behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.robustness import fixtures as fx
from tests.robustness.runner import Case, DataLoss, snapshot

GEN = "worldmem generate"
DEMO = "python -m worldmem.demo"
EVAL = "python -m eval"
TRAIN = "python -m train"
CUR = "python -m data_curation"


# ---------------------------------------------------------------- inputs
def _users_folder(tmp: Path, name: str = "mine") -> Path:
    """A folder of the user's own: files and a subfolder that no command wrote."""
    folder = tmp / name
    fx.write(folder / "notes.txt", "the user's notes")
    fx.write(folder / "data" / "table.csv", "a,b\n1,2\n")
    return folder


def _mine(tmp: Path, base: Path) -> None:
    _users_folder(tmp)


def _gen_argv(tmp: Path, *extra: str, out: str = "out", frames: int = 6) -> list[str]:
    return ["--random-init", "--steps", "1", "--scene", "synthetic:1", "--num-frames", str(frames),
            "--out", str(tmp / out), *extra]


def _gen(*extra, out="out"):
    """``worldmem generate`` on the random tiny model; ``extra`` items may be ``fn(tmp, base)``."""
    def build(tmp: Path, base: Path) -> list[str]:
        return _gen_argv(tmp, *[e(tmp, base) if callable(e) else e for e in extra], out=out)
    return build


def _memory(tmp: Path, base: Path) -> str:
    return str(fx.copy_of(fx.memory(base), tmp, "mem"))


def _previous_generate(tmp: Path, base: Path) -> None:
    """The user's previous ``worldmem generate`` output in ``tmp/out`` (and its file list in ``tmp/expect.json``)."""
    fx.copy_of(_previous_output(base), tmp, "out")
    (tmp / "expect.json").write_text(json.dumps(snapshot(tmp / "out")))


def _previous_output(base: Path) -> Path:
    folder = base / "previous_generate"
    if not folder.exists():
        import contextlib
        import io

        from worldmem import cli

        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main(["generate", *_gen_argv(base, out="previous_generate", frames=6)]) == 0
    return folder


def _run_record(command: str):
    def setup(tmp: Path, base: Path) -> None:
        fx.write(tmp / "out" / "run.json", json.dumps({"command": command}))
        fx.write(tmp / "out" / "result.bin", b"\x01" * 64)
    return setup


def _shards(tmp: Path, base: Path) -> Path:
    folder = tmp / "shards"
    fx.write(folder / "plan.json", "{}")
    return folder


def _train(*overrides):
    def build(tmp: Path, base: Path) -> list[str]:
        return ["--config", str(fx.train_config(base)), "optim.steps=1",
                *[o(tmp, base) if callable(o) else o for o in overrides]]
    return build


def _out_is(folder: str):
    return lambda tmp, base: f"output_dir={tmp / folder}"


def _link(tmp: Path, name: str) -> str:
    """``tmp/name``: a link to the user's ``mine/notes.txt``."""
    os.symlink(tmp / "mine" / "notes.txt", tmp / name)
    return str(tmp / name)


def _nerfstudio(tmp: Path) -> Path:
    """A one-clip nerfstudio folder (made by the case; the build is refused before it is read)."""
    folder = tmp / "ns" / "clip"
    fx.write(folder / "transforms.json", json.dumps({"fl_x": 20, "fl_y": 20, "cx": 16, "cy": 16, "w": 32, "h": 32,
                                                    "frames": []}))
    return tmp / "ns"


def _save_memory_into(folder: str):
    def build(tmp: Path, base: Path) -> None:
        from worldmem.memory import WorldMemory

        WorldMemory.load(fx.memory(base)).save(tmp / folder)
    return build


OUTPUTS = [
    # worldmem generate
    Case(GEN, "--out is a folder of the user's", _gen(out="mine"), "--out", group="outputs", setup=_mine),
    Case(GEN, "--out is the current folder", lambda t, b: _gen_argv(t, out=".")[:-1] + ["."], "--out",
         group="outputs", setup=_mine),
    Case(GEN, "--out holds only a subfolder of the user's",
         _gen(out="only_sub"), "--out", group="outputs",
         setup=lambda t, b: fx.write(t / "only_sub" / "sub" / "keep.txt", "k")),
    Case(GEN, "--out is another command's folder (train's run.json)", _gen(), "python -m train", group="outputs",
         setup=_run_record("python -m train")),
    Case(GEN, "--out holds a run.json that is not JSON", _gen(), "--out", group="outputs",
         setup=lambda t, b: fx.write(t / "out" / "run.json", "{not json")),
    Case(GEN, "--out is a link to a folder of the user's", _gen(out="link"), "--out", group="outputs",
         setup=lambda t, b: (_users_folder(t), os.symlink(t / "mine", t / "link"))),
    Case(GEN, "--save-memory equal to --out", _gen("--save-memory", lambda t, b: str(t / "out")), "--save-memory",
         ("out",), group="outputs"),
    Case(GEN, "--save-memory inside --out", _gen("--save-memory", lambda t, b: str(t / "out" / "memory")),
         "--save-memory", ("out",), group="outputs"),
    Case(GEN, "--out inside --save-memory", _gen("--save-memory", lambda t, b: str(t)), "--save-memory",
         ("out",), group="outputs"),
    Case(GEN, "--save-memory is a folder of the user's", _gen("--save-memory", lambda t, b: str(t / "mine")),
         "--save-memory", ("out",), group="outputs", setup=_mine),
    Case(GEN, "--out equal to --resume-memory",
         lambda t, b: ["--random-init", "--steps", "1", "--resume-memory", _memory(t, b), "--num-frames", "4",
                       "--out", str(t / "mem")], "--resume-memory", group="outputs"),
    Case(GEN, "--out holds --resume-memory",
         lambda t, b: ["--random-init", "--steps", "1", "--resume-memory", _memory(t, b), "--num-frames", "4",
                       "--out", str(t)], "--resume-memory", group="outputs"),
    Case(GEN, "--save-memory equal to --resume-memory",
         lambda t, b: ["--random-init", "--steps", "1", "--resume-memory", _memory(t, b), "--num-frames", "4",
                       "--out", str(t / "out"), "--save-memory", str(t / "mem")], "--resume-memory", ("out",),
         group="outputs"),
    Case(GEN, "--out inside --checkpoint",
         lambda t, b: ["--checkpoint", str(fx.checkpoint(t)), "--scene", "synthetic:1", "--num-frames", "6",
                       "--steps", "1", "--out", str(t / "ckpt" / "out")], "--checkpoint", ("ckpt/out",),
         group="outputs"),
    Case(GEN, "--out holds the given --frames",
         lambda t, b: ["--random-init", "--steps", "1", "--frames", str(fx.copy_of(fx.posed_video(b)["frames"], t)),
                       "--depth", str(fx.posed_video(b)["depth"]), "--cameras", str(fx.posed_video(b)["cameras"]),
                       "--trajectory", "keys:WW", "--num-frames", "5", "--out", str(t)], "--frames", group="outputs"),
    # python -m worldmem.demo
    Case(DEMO, "--out is a folder of the user's",
         lambda t, b: ["--out", str(t / "mine"), "--frames", "4", "--size", "16", "--checkpoint", str(t / "none")],
         "--out", group="outputs", setup=_mine),
    Case(DEMO, "--out is the checkpoint",
         lambda t, b: ["--out", str(fx.checkpoint(t)), "--frames", "4", "--size", "16",
                       "--checkpoint", str(t / "ckpt")], "--checkpoint", group="outputs"),
    # python -m eval revisit
    Case(EVAL, "revisit --out is the checkpoint",
         lambda t, b: ["revisit", "--checkpoint", str(fx.checkpoint(t)), "--out", str(t / "ckpt")], "--checkpoint",
         group="outputs"),
    Case(EVAL, "revisit --out inside the checkpoint",
         lambda t, b: ["revisit", "--checkpoint", str(fx.checkpoint(t)), "--out", str(t / "ckpt" / "report")],
         "--checkpoint", ("ckpt/report",), group="outputs"),
    Case(EVAL, "revisit --out holds only hidden files of the user's",
         lambda t, b: ["revisit", "--checkpoint", str(fx.CHECKPOINT), "--out", str(t / "out")], "--out",
         group="outputs", setup=lambda t, b: fx.write(t / "out" / ".config", "mine")),
    Case(EVAL, "revisit --out is generate's folder", lambda t, b: ["revisit", "--checkpoint", str(fx.CHECKPOINT),
                                                                  "--out", str(t / "out")], "--out",
         group="outputs", setup=_run_record("worldmem generate")),
    # python -m data_curation build
    Case(CUR, "build --out is a folder of the user's",
         lambda t, b: ["build", "--source", "synthetic:1", "--out", str(t / "mine"), "--no-progress"], "--out",
         group="outputs", setup=_mine),
    Case(CUR, "build --out inside the nerfstudio source",
         lambda t, b: ["build", "--source", f"nerfstudio:{_nerfstudio(t)}", "--out", str(t / "ns" / "curated"),
                       "--no-progress"], "--source", ("ns/curated",), group="outputs"),
    Case(CUR, "build --out holds the captions file",
         lambda t, b: ["build", "--source", "synthetic:1", "--captions", str(fx.write(t / "c.json", "{}")),
                       "--out", str(t), "--no-progress"], "--captions", group="outputs"),
    # python -m train
    Case(TRAIN, "output_dir is a folder of the user's", _train(_out_is("mine")), "output_dir", group="outputs",
         setup=_mine),
    Case(TRAIN, "output_dir is the shard folder",
         _train("data.source=shards", lambda t, b: f"data.shards={_shards(t, b)}", _out_is("shards")),
         "data.shards", group="outputs"),
    Case(TRAIN, "output_dir holds the init_from pipeline",
         _train(lambda t, b: f"model.init_from={fx.checkpoint(t)}", lambda t, b: f"output_dir={t}"),
         "model.init_from", group="outputs"),
    Case(TRAIN, "output_dir is generate's folder", _train(_out_is("out")), "worldmem generate", group="outputs",
         setup=_run_record("worldmem generate")),
    # output files: written only under their format's extension
    Case(EVAL, "bench --out is the user's text file", lambda t, b: ["bench", "geometry", "--quick", "--out",
                                                                   str(t / "mine" / "notes.txt")], "--out",
         group="outputs", setup=_mine),
    Case(EVAL, "bench --out is a link to the user's file", lambda t, b: ["bench", "geometry", "--quick", "--out",
                                                                        _link(t, "b.json")], "--out",
         group="outputs", setup=_mine),
    Case(EVAL, "plot-paths --out is the user's text file",
         lambda t, b: ["plot-paths", "--out", str(t / "mine" / "notes.txt")], "--out", group="outputs", setup=_mine),
    Case(EVAL, "scale-fit --out beside the user's json",
         lambda t, b: ["scale-fit", "--out", str(t / "mine" / "table.png"), "--clips", "1"], "--out",
         group="outputs", setup=lambda t, b: (_users_folder(t), fx.write(t / "mine" / "table.json", "{}"))),
    Case(CUR, "preview --out is the user's text file",
         lambda t, b: ["preview", str(t / "mine"), "--sample", "0", "--out", str(t / "mine" / "notes.txt")],
         "--out", group="outputs", setup=_mine),
    # the API
    Case("WorldMemory.save", "into a folder of the user's", _save_memory_into("mine"), "did not write",
         group="outputs", setup=_mine),
    Case("WorldMemory.save", "onto a file", _save_memory_into("notes.txt"), "notes.txt", group="outputs",
         setup=lambda t, b: fx.write(t / "notes.txt", "x")),
    # what must still work
    Case(GEN, "--out an empty folder (accepted)", _gen(), "", group="outputs", wants="success",
         setup=lambda t, b: (t / "out").mkdir()),
    Case(GEN, "--out a previous run's folder (replaced)", _gen(), "", group="outputs", wants="success",
         setup=_previous_generate, may_change=("out/",)),
    Case("WorldMemory.save", "over a saved memory (replaced)", _save_memory_into("mem"), "", group="outputs",
         wants="success", setup=lambda t, b: _memory(t, b), may_change=("mem/",)),
]


# ---------------------------------------------------------------- killed runs
_DIE = ("import os, signal\n"
        "def _die():\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")


def _killed(tmp: Path, command: str, argv: list[str], patch: str, timeout: float = 300) -> None:
    """Runs ``command`` (a Python call taking ``ARGV``) in a subprocess after ``patch``; it must die by SIGKILL."""
    code = f"{_DIE}{patch}\nARGV = {argv!r}\n{command}\n"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(fx.ROOT)}
    try:
        run = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired as err:
        from tests.robustness.runner import Hang

        raise Hang(f"the run to be killed was still going after {timeout:g} s") from err
    if run.returncode != -signal.SIGKILL:
        raise RuntimeError(f"expected the run to be killed, got status {run.returncode}: {run.stderr[-300:]}")


_GENERATE = "from worldmem import cli\ncli.main(['generate', *ARGV])"


def _expect_previous(tmp: Path, where: Path | None = None) -> None:
    """The user's previous output is in ``tmp/out`` (or, where a swap was cut short, at ``where``)."""
    expected = json.loads((tmp / "expect.json").read_text())
    found = snapshot(where or tmp / "out")
    if found != expected:
        raise DataLoss(f"the previous output is not intact at {where or tmp / 'out'}")


def _gen_killed(patch: str, check):
    def build(tmp: Path, base: Path) -> list[str]:
        argv = _gen_argv(tmp)
        _killed(tmp, _GENERATE, argv, patch)
        check(tmp)
        return argv
    return build


def _old_aside(tmp: Path) -> None:
    """The fallback swap died between its renames: ``out`` is gone, the old folder waits under ``.out.*.old``."""
    aside = [p for p in tmp.iterdir() if p.name.startswith(".out.") and p.name.endswith(".old")]
    if (tmp / "out").exists() or len(aside) != 1:
        raise DataLoss(f"expected the old folder aside, found {sorted(p.name for p in tmp.iterdir())}")
    _expect_previous(tmp, aside[0])


def _new_in_place(tmp: Path) -> None:
    if not (tmp / "out" / "run.json").is_file() or not (tmp / "out" / "video.mp4").is_file():
        raise DataLoss("the exchanged folder is not the new complete one")


_KILL_IN_FILL = ("import worldmem.utils.video as v\n_real = v.write_video\n"
                 "def write_video(*a, **k):\n    _real(*a, **k)\n    _die()\nv.write_video = write_video\n")
_KILL_AFTER_EXCHANGE = ("import worldmem.utils.io as io\n_real = io._exchange\n"
                        "def _exchange(a, b):\n    done = _real(a, b)\n    _die()\nio._exchange = _exchange\n")
_KILL_BETWEEN_RENAMES = ("import worldmem.utils.io as io\nio.EXCHANGE = False\n_real = io.os.replace\n"
                         "def replace(a, b):\n    _real(a, b)\n    if str(b).endswith('.old'):\n        _die()\n"
                         "io.os.replace = replace\n")


def _save_killed(patch: str):
    def build(tmp: Path, base: Path) -> None:
        mem = _memory(tmp, base)
        before = snapshot(Path(mem))
        code = "from worldmem.memory import WorldMemory\nWorldMemory().save(ARGV[0])"  # another (empty) memory
        _killed(tmp, code, [mem], patch)
        kept = snapshot(Path(mem))
        if kept != before:
            raise DataLoss("the saved memory changed after a killed save")
        from worldmem.memory import WorldMemory

        WorldMemory.load(fx.memory(base)).save(mem)  # the next save cleans up and succeeds
    return build


_KILL_IN_SAFETENSORS = ("import worldmem.memory.world as w\n_real = w.save_file\n"
                        "def save_file(*a, **k):\n    _real(*a, **k)\n    _die()\nw.save_file = save_file\n")

_TRAIN_RUN = "from train import __main__ as t\nt.main(ARGV)"


def _train_argv(tmp: Path, base: Path, steps: int, *extra: str) -> list[str]:
    return ["--config", str(fx.train_config(base)), f"optim.steps={steps}", "optim.batch_size=1",
            "checkpoint_every=1", "validate_every=100000", f"output_dir={tmp / 'run'}", "optim.warmup_steps=0", *extra]


def _train_killed(patch: str, check, resume: bool):
    def build(tmp: Path, base: Path) -> list[str]:
        argv = _train_argv(tmp, base, 2)
        _killed(tmp, _TRAIN_RUN, argv, patch)
        check(tmp)
        return argv + (["--resume"] if resume else [])
    return build


_KILL_IN_PIPELINE_SAVE = ("from worldmem.pipelines import WorldMemPipeline\n_real = WorldMemPipeline.save_pretrained\n"
                          "def save_pretrained(self, *a, **k):\n    _real(self, *a, **k)\n    _die()\n"
                          "WorldMemPipeline.save_pretrained = save_pretrained\n")
_KILL_AT_SECOND_CHECKPOINT = ("import train.loop as L\n_real = L.swap_in\n_n = [0]\n"
                              "def swap_in(a, b):\n    _n[0] += 1\n    if _n[0] == 2:\n        _die()\n"
                              "    _real(a, b)\nL.swap_in = swap_in\n")


def _checkpoint_resumable(tmp: Path) -> None:
    latest = tmp / "run" / "checkpoints" / "latest"
    if not latest.is_file() or not (tmp / "run" / "checkpoints" / latest.read_text().strip()).is_dir():
        raise DataLoss("checkpoints/latest names no complete checkpoint after the kill")


def _no_pipeline_yet(tmp: Path) -> None:
    _checkpoint_resumable(tmp)
    if (tmp / "run" / "pipeline").exists():
        raise DataLoss("a pipeline folder exists although its save was killed")


_CURATE = "from data_curation import cli\ncli.main(ARGV)"
_KILL_AFTER_FIRST_SHARD = ("import data_curation.build as B\n_real = B.write_shard\n"
                          "def write_shard(*a, **k):\n    info = _real(*a, **k)\n    _die()\n"
                          "B.write_shard = write_shard\n")


def _curation_killed(tmp: Path, base: Path) -> list[str]:
    argv = ["build", "--source", "synthetic:2", "--out", str(tmp / "cur"), "--no-progress", "--config",
            str(fx.ROOT / "configs" / "curation" / "tiny.yaml")]
    from data_curation.build import SHARD_DIR

    _killed(tmp, _CURATE, argv, _KILL_AFTER_FIRST_SHARD)
    if not (tmp / "cur" / "plan.json").is_file() or not list((tmp / "cur" / SHARD_DIR).glob("*.tar")):
        raise RuntimeError("the build was not killed after its first shard")
    return argv


FAULTS = [
    Case(GEN, "killed while building --out, then rerun", _gen_killed(_KILL_IN_FILL, _expect_previous), "",
         group="faults", wants="success", setup=_previous_generate, may_change=("out/",), timeout=300),
    Case(GEN, "killed just after the swap, then rerun", _gen_killed(_KILL_AFTER_EXCHANGE, _new_in_place), "",
         group="faults", wants="success", setup=_previous_generate, may_change=("out/",), timeout=300),
    Case(GEN, "killed between the fallback swap's renames, then rerun",
         _gen_killed(_KILL_BETWEEN_RENAMES, _old_aside), "", group="faults", wants="success",
         setup=_previous_generate, may_change=("out/",), timeout=300),
    Case("WorldMemory.save", "killed while writing over a saved memory", _save_killed(_KILL_IN_SAFETENSORS), "",
         group="faults", wants="success", may_change=("mem/",), timeout=300),
    Case(TRAIN, "killed while saving the final pipeline, then --resume",
         _train_killed(_KILL_IN_PIPELINE_SAVE, _no_pipeline_yet, True), "", group="faults", wants="success",
         timeout=600, may_change=("run/",)),
    Case(TRAIN, "killed while saving a checkpoint, then --resume",
         _train_killed(_KILL_AT_SECOND_CHECKPOINT, _checkpoint_resumable, True), "", group="faults",
         wants="success", timeout=600, may_change=("run/",)),
    Case(CUR, "build killed after its first shard, then rerun", _curation_killed, "", group="faults",
         wants="success", timeout=600, may_change=("cur/",)),
]

CASES = OUTPUTS + FAULTS
