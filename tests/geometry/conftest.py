"""Fixtures of the TSDF tests (test_tsdf.py, test_tsdf_storage.py use them)."""

import pytest
import torch

from worldmem.synthetic import SyntheticScene


@pytest.fixture(scope="module")
def one_thread():
    # Many mid-sized tensor ops: with 2 threads on a 2-core machine shared with other jobs, OpenMP barriers
    # make timings swing by 10x; one thread keeps the suite's runtime predictable.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def scene() -> SyntheticScene:
    return SyntheticScene.random(seed=0, kind="room")
