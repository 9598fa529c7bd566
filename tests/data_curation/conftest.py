import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Curation runs on one torch thread (worldmem.data.builder.single_thread); tests that call the builder
    directly do the same, which is also several times faster on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
