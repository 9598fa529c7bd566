"""``python -m data_curation stats DIR``: counts and coverage / overlap statistics of a curated folder.

The folder's files are checked before use: each ``.jsonl`` row must be a JSON object with the fields a statistic
reads, of the right type, and ``summary.json`` must have the shape ``build`` writes; anything else is a one-line
``ValueError`` naming the file, the row (0-based, blank lines not counted, as ``preview --sample`` counts) and the
field. Errors name a value's type, never the value.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path

__all__ = ["dataset_stats", "format_stats", "read_rows", "TEXT", "COUNT", "NUMBER", "FLAG"]


def _type(value) -> str:
    return "null" if value is None else type(value).__name__


# Field checks: (what is expected, test).
Check = tuple[str, Callable[[object], bool]]
TEXT: Check = ("a non-empty string", lambda v: isinstance(v, str) and bool(v))
COUNT: Check = ("an int >= 0", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
NUMBER: Check = ("a number or null", lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                                             and not math.isnan(v)))
FLAG: Check = ("true or false", lambda v: isinstance(v, bool))


def _check_fields(row: dict, fields: dict, where: str, optional: tuple[str, ...] = ()) -> None:
    for field, (kind, test) in fields.items():
        if field not in row:
            if field in optional:
                continue
            raise ValueError(f"{where}: missing field {field!r}")
        if not test(row[field]):
            raise ValueError(f"{where}: {field}: expected {kind}, got {_type(row[field])}")


def read_rows(path: Path, fields: dict, optional: tuple[str, ...] = ()) -> list[dict]:
    """The rows of the ``.jsonl`` file ``path`` (none when it does not exist), each a JSON object holding
    ``fields`` = {name: check} (``optional`` ones may be absent); ``ValueError`` naming the file and row."""
    if not path.is_file():
        return []
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}: row {len(rows)}"
        try:
            row = json.loads(line)
        except ValueError:
            raise ValueError(f"{where} (line {line_no}): not valid JSON") from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object, got {_type(row)}")
        _check_fields(row, fields, where, optional)
        rows.append(row)
    return rows


_MANIFEST = {"source": TEXT, "revisit": FLAG, "coverage": NUMBER, "overlap": NUMBER, "revisit_score": NUMBER,
             "render_psnr": NUMBER, "num_keyframes": COUNT, "dynamic": FLAG}
_FAILURE = {"source": TEXT, "reason": TEXT}
_SUMMARY = {"complete": FLAG, "shards": {"complete": COUNT, "total": COUNT},
            "clips": {"ok": COUNT, "failed": COUNT, "total": COUNT}, "samples": {"ok": COUNT, "failed": COUNT}}


def _read_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path}: not valid JSON") from None
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: expected a JSON object, got {_type(summary)}")
    for field, spec in _SUMMARY.items():
        if isinstance(spec, dict):
            if not isinstance(summary.get(field), dict):
                raise ValueError(f"{path}: {field}: expected an object, got {_type(summary.get(field))}")
            _check_fields(summary[field], spec, f"{path}: {field}")
        else:
            _check_fields(summary, {field: spec}, str(path))
    return summary


def _describe(values: list[float]) -> dict | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None

    def q(p: float) -> float:
        return values[min(len(values) - 1, int(p * (len(values) - 1) + 0.5))]

    return {"mean": statistics.fmean(values), "p10": q(0.1), "median": q(0.5), "p90": q(0.9)}


def dataset_stats(root: str | Path) -> dict:
    root = Path(root)
    if not (root / "summary.json").is_file():
        raise ValueError(f"{root}: no summary.json (not a curated dataset folder, or nothing built yet)")
    summary = _read_summary(root / "summary.json")
    manifest = read_rows(root / "manifest.jsonl", _MANIFEST, optional=("dynamic",))
    failures = read_rows(root / "failures.jsonl", _FAILURE)
    revisit = [r for r in manifest if r["revisit"]]
    explore = [r for r in manifest if not r["revisit"]]
    # Group failure reasons by their stable prefix (before any ':' with file-specific detail).
    reasons = Counter(f"{f['source']}: {f['reason'].split(':')[0][:80]}" for f in failures)
    return {
        "summary": summary,
        "by_source": dict(sorted(Counter(r["source"] for r in manifest).items())),
        "coverage": _describe([r["coverage"] for r in manifest]),
        "coverage_revisit": _describe([r["coverage"] for r in revisit]),
        "coverage_explore": _describe([r["coverage"] for r in explore]),
        "overlap": _describe([r["overlap"] for r in manifest]),
        "revisit_score": _describe([r["revisit_score"] for r in manifest]),
        "render_psnr": _describe([r["render_psnr"] for r in manifest]),
        "keyframes": dict(sorted(Counter(r["num_keyframes"] for r in manifest).items())),
        "revisit_fraction": len(revisit) / len(manifest) if manifest else None,
        "dynamic_fraction": (sum(bool(r.get("dynamic")) for r in manifest) / len(manifest)) if manifest else None,
        "failure_reasons": dict(reasons.most_common()),
    }


def format_stats(stats: dict) -> str:
    s = stats["summary"]
    lines = [
        f"shards {s['shards']['complete']}/{s['shards']['total']} complete"
        + ("" if s["complete"] else " (incomplete: rerun the build to finish)"),
        f"clips  {s['clips']['ok']} ok, {s['clips']['failed']} failed, of {s['clips']['total']}",
        f"samples {s['samples']['ok']} ok, {s['samples']['failed']} failed",
        "by source: " + (", ".join(f"{k} {v}" for k, v in stats["by_source"].items()) or "-"),
    ]
    for name in ("coverage", "coverage_revisit", "coverage_explore", "overlap", "revisit_score", "render_psnr"):
        d = stats[name]
        text = "-" if d is None else "  ".join(f"{k} {v:.3f}" for k, v in d.items())
        lines.append(f"{name:<17}{text}")
    for name in ("revisit_fraction", "dynamic_fraction"):
        v = stats[name]
        lines.append(f"{name:<17}{'-' if v is None else f'{v:.3f}'}")
    lines.append("keyframes/sample " + (", ".join(f"{k}: {v}" for k, v in stats["keyframes"].items()) or "-"))
    if stats["failure_reasons"]:
        lines.append("failures:")
        lines += [f"  {n:5d}  {reason}" for reason, n in stats["failure_reasons"].items()]
    return "\n".join(lines)
