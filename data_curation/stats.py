"""``python -m data_curation stats DIR``: counts and coverage / overlap statistics of a curated folder."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

__all__ = ["dataset_stats", "format_stats"]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


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
    summary = json.loads((root / "summary.json").read_text())
    manifest, failures = _rows(root / "manifest.jsonl"), _rows(root / "failures.jsonl")
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
