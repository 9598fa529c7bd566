from tests.data.conftest import one_torch_thread  # noqa: F401  (the same autouse fixture)
