from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "checkpoints" / "worldmem-tiny"


@pytest.fixture(scope="module")
def tiny_pipe():
    from worldmem.pipelines import load_pipeline

    return load_pipeline(TINY)
