import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Eval tests run on one torch thread: tiny tensors, and threads cost more than they give on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
