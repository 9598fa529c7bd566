import contextlib
import io
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def budget_run(tmp_path_factory) -> dict:
    """``python -m train budget --config configs/cogvideox-5b.yaml --out ...`` run once: its json and its output."""
    from train.__main__ import main

    out = tmp_path_factory.mktemp("budget") / "budget.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["budget", "--config", str(ROOT / "configs" / "cogvideox-5b.yaml"), "--out", str(out)])
    return {"status": status, "stdout": printed.getvalue(), "out": out, "result": json.loads(out.read_text())}
