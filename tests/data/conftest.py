import pytest

from worldmem.data.builder import single_thread


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Curation runs on one torch thread (worldmem.data.builder.single_thread); tests that call the builder
    directly do the same, which is also several times faster on a busy 2-core machine."""
    with single_thread():
        yield
