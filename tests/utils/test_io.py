"""Atomic writes: whole files and folders or nothing, with the permissions the user's umask gives."""

import os

import pytest

from worldmem.utils.io import atomic_directory, atomic_write, atomic_write_json


@pytest.fixture
def umask_027():
    before = os.umask(0o027)
    yield
    os.umask(before)


def test_files_and_folders_get_the_umask_mode_not_the_private_temporary_one(tmp_path, umask_027):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    atomic_write(tmp_path / "b.txt", lambda tmp: open(tmp, "w").write("b"))
    atomic_directory(tmp_path / "d", lambda d: (d / "f").write_text("f"))
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
