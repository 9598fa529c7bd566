"""``python -m eval compare``: several models' revisit reports in one ranked table.

    python -m eval compare REPORT [REPORT ...] --out DIR

Each ``REPORT`` is a report folder (or its ``results.json``) written by ``python -m eval revisit`` (a checkpoint's
variants or a ``--model``) or ``python -m eval score`` (a kit's videos). They must share one protocol: the same
``config.protocol``, the same episodes (scene, path, frames, given frames) and, where recorded, the same
``min_gap``, ``min_covisibility`` and ``image_size``; otherwise one line names the first report that differs.

``DIR`` gets ``compare.json`` (the rows and their ranks), ``report.md`` and ``report.html``: one row per model
and variant (``variant`` or ``variant (folder)`` when two reports share a name), in the order of the ranking rule
(:mod:`eval.ranking`), with the protocol's headline columns (:func:`eval.protocol_report.protocol_columns`:
return-vs-truth, sharpness and motion beside the headline metric). The folder is built beside ``DIR`` and
renamed into place when complete; an existing ``DIR`` is replaced only when it holds ``compare.json``.
"""

from __future__ import annotations

import argparse
import html
import json
from pathlib import Path

from eval.episodes import RevisitError
from eval.protocol_report import protocol_columns
from eval.ranking import MIN_MOTION, MIN_SHARPNESS, rank, rank_key
from eval.table import metric_table

__all__ = ["MARKER", "PROTOCOL_KEYS", "add_arguments", "load_report", "compare", "run"]

MARKER = "compare.json"
PROTOCOL_KEYS = ("protocol", "source", "num_frames", "context_frames", "min_gap", "min_covisibility", "image_size")
"""The ``config`` keys two reports must agree on (where both record them), besides their episodes."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reports", nargs="+", type=Path, help="report folders (or results.json files) of one protocol")
    p.add_argument("--out", type=Path, required=True, help="output folder (compare.json, report.md, report.html)")


def load_report(path: Path) -> dict:
    """The results dict of a report folder or ``results.json``; :class:`RevisitError` naming ``path``."""
    from eval.report import check_results, summarize

    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise RevisitError(f"REPORT: no results.json at {path}")
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
        check_results(results)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
        raise RevisitError(f"REPORT: {file}: {' '.join(str(err).split())}") from None
    if not isinstance(results.get("config"), dict) or "protocol" not in results["config"]:
        raise RevisitError(f"REPORT: {file}: no config.protocol (expected an eval revisit or eval score report)")
    results.setdefault("summary", summarize(results))
    return results


def _identity(results: dict) -> tuple:
    episodes = sorted((str(s["scene"]), str(s["trajectory"]), s.get("num_frames"), s.get("context_frames"))
                      for s in results["scenes"])
    return results["config"]["protocol"], episodes


def compare(paths: list[Path]) -> dict:
    """The comparison of the reports at ``paths``: ``{"protocol", "rank_key", "rows", "order", "reports"}``."""
    reports = [load_report(p) for p in paths]
    first = reports[0]
    for path, results in zip(paths[1:], reports[1:], strict=True):
        cfg, ref = results["config"], first["config"]
        for key in PROTOCOL_KEYS:
            if key in cfg and key in ref and cfg[key] != ref[key]:
                raise RevisitError(f"REPORT: {path}: a different protocol than {paths[0]} ({key} {cfg[key]!r} vs "
                                   f"{ref[key]!r})")
        if _identity(results) != _identity(first):
            raise RevisitError(f"REPORT: {path}: other episodes than {paths[0]} (scenes, paths or frames differ)")
    protocol = first["config"]["protocol"]
    names = [v for r in reports for v in r["summary"]]
    rows: dict[str, dict] = {}
    for path, results in zip(paths, reports, strict=True):
        shown = (results.get("headline") or {}).get("table", {})
        for variant, row in results["summary"].items():
            name = variant if names.count(variant) == 1 else f"{variant} ({path.name if path.is_dir() else path.parent.name})"
            if name in rows:
                raise RevisitError(f"REPORT: {path}: variant {name!r} twice (give the reports distinct folders)")
            rows[name] = {**row, **{k: v for k, v in shown.get(variant, {}).items() if v is not None},
                          "report": str(path)}
    order = rank(rows, protocol)
    return {"protocol": protocol, "rank_key": rank_key(protocol), "min_sharpness": MIN_SHARPNESS,
            "min_motion": MIN_MOTION, "reports": [str(p) for p in paths], "rows": rows,
            "order": [{"name": n, "rank": k, "unranked": why} for n, k, why in order]}


def _table(comparison: dict):
    protocol = comparison["protocol"]
    rows = comparison["rows"]
    cols = protocol_columns(protocol)
    key = comparison["rank_key"]
    if key not in [c.key for c in cols]:
        from eval.table import Column

        cols = [Column(key, key), *cols]
    table = metric_table("model", {o["name"]: rows[o["name"]] for o in comparison["order"]}, cols)
    table.header = ["rank", *table.header]
    table.rows = [[str(o["rank"]) if o["rank"] is not None else f"unranked: {o['unranked']}", *r]
                  for o, r in zip(comparison["order"], table.rows, strict=True)]
    table.bold = [[False, *b] for b in table.bold] if table.bold else None
    return table


def _rule(comparison: dict) -> str:
    return (f"Ranked by {comparison['rank_key']} (largest first) among the models whose sharpness >= "
            f"{comparison['min_sharpness']} and motion >= {comparison['min_motion']} (each a ratio to the ground "
            "truth on the generated frames; eval/ranking.py, docs/evaluation.md); the others are listed unranked "
            "with the gate they failed.")


def run(args) -> dict:
    """Writes the comparison of ``args.reports`` into ``args.out``; raises :class:`RevisitError`."""
    from eval.report import save_results
    from worldmem.utils.io import atomic_directory, overlap_problem, replace_problem

    why = overlap_problem({"--out": args.out}, {f"REPORT {k + 1}": p for k, p in enumerate(args.reports)}) \
        or replace_problem(args.out, MARKER)
    if why:
        raise RevisitError(why if why.startswith("--out") else f"--out: {why}")
    comparison = compare(list(args.reports))
    table = _table(comparison)
    e = html.escape
    title = f"Revisit benchmark: {len(comparison['rows'])} models, protocol {comparison['protocol']}"
    sources = "\n".join(f"- {p}" for p in comparison["reports"])

    def fill(stage: Path) -> None:
        (stage / "report.md").write_text(f"# {title}\n\n{table.markdown()}\n\n{_rule(comparison)}\n\nReports:\n\n"
                                         f"{sources}\n", encoding="utf-8")
        items = "".join(f"<li>{e(p)}</li>" for p in comparison["reports"])
        (stage / "report.html").write_text(
            f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{e(title)}</title>'
            "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} "
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head>\n<body>\n"
            f"<h1>{e(title)}</h1>\n{table.html()}\n<p>{e(_rule(comparison))}</p>\n<ul>{items}</ul>\n</body></html>\n",
            encoding="utf-8")
        save_results(comparison, stage / MARKER)

    try:
        atomic_directory(args.out, fill, marker=MARKER)
    except ValueError as err:
        raise RevisitError(f"--out: {err}") from None
    print(table.text())
    print(_rule(comparison))
    print(f"wrote {args.out}/compare.json, report.md, report.html")
    return comparison
