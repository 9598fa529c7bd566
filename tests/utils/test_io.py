"""Atomic writes: whole files and folders or nothing, with the permissions the user's umask gives."""

import json
import os
import signal
import subprocess
import sys

import pytest

from worldmem.utils import io
from worldmem.utils.io import atomic_directory, atomic_write, atomic_write_json, overlap_problem, recover, replace_problem


@pytest.fixture
def umask_027():
    before = os.umask(0o027)
    yield
    os.umask(before)


def test_files_and_folders_get_the_umask_mode_not_the_private_temporary_one(tmp_path, umask_027):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    atomic_write(tmp_path / "b.txt", lambda tmp: open(tmp, "w").write("b"))
    atomic_directory(tmp_path / "d", lambda d: (d / "f").write_text("f"), marker="f")
    assert oct(os.stat(tmp_path / "a.json").st_mode & 0o777) == oct(0o640)
    assert oct(os.stat(tmp_path / "b.txt").st_mode & 0o777) == oct(0o640)
    assert oct(os.stat(tmp_path / "d").st_mode & 0o777) == oct(0o750)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.txt", "d"]  # no temporary names left


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    atomic_write(tmp_path / "c.txt", lambda tmp: open(tmp, "w").write("old"))

    def fail(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "c.txt", fail)
    assert (tmp_path / "c.txt").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["c.txt"]


def _fill(text):
    return lambda d: (d / "marker.txt").write_text(text)


def test_a_folder_of_the_users_is_never_replaced(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match="non-empty folder that this command did not write"):
        atomic_directory(mine, _fill("new"), marker="marker.txt")
    assert (mine / "thesis.tex").read_text() == "years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # nothing built beside it either
    empty = tmp_path / "empty"
    empty.mkdir()
    atomic_directory(empty, _fill("new"), marker="marker.txt")  # an empty folder may be used
    atomic_directory(empty, _fill("newer"), marker="marker.txt")  # and replaced: it holds the marker now
    assert (empty / "marker.txt").read_text() == "newer"


def test_a_run_record_counts_only_for_its_own_command(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"command": "python -m train"}))
    assert "holds the output of 'python -m train'" in replace_problem(out, "run.json", "worldmem generate")
    assert replace_problem(out, "run.json", "python -m train") is None
    (out / "run.json").write_text("not json")
    assert "did not write" in replace_problem(out, "run.json", "python -m train")


def test_outputs_may_not_overlap_each_other_or_an_input(tmp_path):
    out, mem = tmp_path / "out", tmp_path / "mem"
    assert "is --resume-memory" in overlap_problem({"--out": mem}, {"--resume-memory": mem})
    assert "--save-memory" in overlap_problem({"--out": out, "--save-memory": out}, {})
    assert "is inside --checkpoint" in overlap_problem({"--out": tmp_path / "ck" / "o"}, {"--checkpoint": tmp_path / "ck"})
    assert "contains --frames" in overlap_problem({"--out": tmp_path}, {"--frames": tmp_path / "v.mp4"})
    assert overlap_problem({"--out": out, "--save-memory": mem}, {"--checkpoint": tmp_path / "ck", "--x": None}) is None


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2 exchange", "two renames"])
def test_a_replaced_folder_is_complete_after_every_step_of_the_swap(tmp_path, monkeypatch, exchange):
    """Whichever rename a death follows, the folder the user looks at is the old or the new one, or the old one
    comes back at the next write (the fallback's window)."""
    monkeypatch.setattr(io, "EXCHANGE", exchange)
    out = tmp_path / "out"
    atomic_directory(out, _fill("old"), marker="marker.txt")
    calls = []
    real_replace = io.os.replace

    def dies_after_first_rename(a, b):
        real_replace(a, b)
        calls.append((a, b))
        raise KeyboardInterrupt("killed between the renames")

    monkeypatch.setattr(io.os, "replace", dies_after_first_rename)
    try:
        atomic_directory(out, _fill("new"), marker="marker.txt")
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(io.os, "replace", real_replace)
    if exchange:  # one atomic exchange, no rename at all: the new folder is in place
        assert calls == [] and (out / "marker.txt").read_text() == "new"
    else:  # the old folder was moved aside; the next write (or recover) brings it back
        assert not out.exists()
        monkeypatch.setattr(io, "_alive", lambda pid: False)  # as after the process died
        recover(out)
        assert (out / "marker.txt").read_text() == "old"
        assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_leftovers_of_a_killed_writer_are_cleaned_by_the_next_write(tmp_path):
    """A real SIGKILL while the folder is being built: the temporary stays; the next write deletes it."""
    out = tmp_path / "out"
    code = ("import os, signal, sys; from worldmem.utils.io import atomic_directory\n"
            "def fill(d):\n    (d / 'half').write_text('x'); os.kill(os.getpid(), signal.SIGKILL)\n"
            f"atomic_directory({str(out)!r}, fill, marker='marker.txt')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert run.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".out.") and left[0].endswith(".tmp")
    atomic_directory(out, _fill("new"), marker="marker.txt")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_live_writers_temporaries_are_left_alone(tmp_path):
    out = tmp_path / "out"
    live = tmp_path / f".out.{os.getppid()}-abc.tmp"
    live.mkdir()
    recover(out)
    assert live.is_dir()
