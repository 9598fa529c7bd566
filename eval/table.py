"""One table renderer for the revisit reports: fixed-width text (the terminal), Markdown (``report.md``) and HTML
(``report.html``) from the same :class:`Table`.

A :class:`Table` is a header and rows of cells; a cell is a string or a :class:`Link` (a Markdown link, an HTML
anchor, the address in text), and any cell may be marked bold. :func:`metric_table` builds the usual results
table from a dict of rows: one row per name, one :class:`Column` per metric, numbers formatted (``n/a`` for a
missing or non-finite value) and, when at least two rows have a value, the best of each column in bold.

Text: the first column left-aligned, the others right-aligned, a rule of dashes under the header (bold is not
shown). Markdown: a pipe table, bold as ``**cell**``. HTML: a ``<table>`` with every cell escaped, bold as
``<b>``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["BEST_RULES", "Column", "Link", "Table", "metric_table"]

BEST_RULES = ("max", "min", "one")
"""Which value of a column is best: the largest, the smallest, or the nearest 1 (a ratio)."""


@dataclass(frozen=True)
class Link:
    """A cell that links to ``href`` (relative to the report), shown as ``text``."""

    text: str
    href: str


@dataclass(frozen=True)
class Column:
    """One metric column of :func:`metric_table`: the row's ``key``, its ``title``, the number format and which
    value is best (one of :data:`BEST_RULES`)."""

    key: str
    title: str
    fmt: str = "{:.2f}"
    best: str = "max"

    def __post_init__(self) -> None:
        if self.best not in BEST_RULES:
            raise ValueError(f"best: expected one of {', '.join(BEST_RULES)}, got {self.best!r}")

    def score(self, value: float) -> float:
        """Larger is better: ``value``, ``-value`` or ``-|value - 1|``."""
        return {"max": value, "min": -value, "one": -abs(value - 1.0)}[self.best]


@dataclass
class Table:
    """A header and rows of cells (str or :class:`Link`); ``bold``: optional flags of the rows' shape."""

    header: Sequence[str]
    rows: Sequence[Sequence[str | Link]]
    bold: Sequence[Sequence[bool]] | None = None

    def _bold(self, k: int, n: int) -> bool:
        return bool(self.bold) and bool(self.bold[k][n])

    def text(self) -> str:
        """Fixed-width text: first column left-aligned, the others right-aligned, a rule under the header."""
        shown = [list(self.header)] + [[c.href if isinstance(c, Link) else str(c) for c in r] for r in self.rows]
        widths = [max(len(r[k]) for r in shown) for k in range(len(self.header))]
        lines = ["  ".join(c.ljust(widths[k]) if k == 0 else c.rjust(widths[k]) for k, c in enumerate(r))
                 for r in shown]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def markdown(self) -> str:
        """A Markdown pipe table; bold cells as ``**cell**``, links as ``[text](href)``."""
        def cell(c, k: int, n: int) -> str:
            s = f"[{c.text}]({c.href})" if isinstance(c, Link) else str(c)
            return f"**{s}**" if self._bold(k, n) else s

        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(cell(c, k, n) for n, c in enumerate(r)) + " |" for k, r in enumerate(self.rows)]
        return "\n".join(lines)

    def html(self) -> str:
        """An HTML ``<table>``, one row per line; every text escaped, bold cells in ``<b>``, links as anchors."""
        e = html.escape

        def cell(c, k: int, n: int) -> str:
            s = f'<a href="{e(c.href)}">{e(c.text)}</a>' if isinstance(c, Link) else e(str(c))
            return f"<td><b>{s}</b></td>" if self._bold(k, n) else f"<td>{s}</td>"

        head = "".join(f"<th>{e(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(cell(c, k, n) for n, c in enumerate(r)) + "</tr>\n"
                       for k, r in enumerate(self.rows))
        return f"<table><tr>{head}</tr>\n{body}</table>"


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def metric_table(first: str, rows: Mapping[str, Mapping], columns: Sequence[Column]) -> Table:
    """The table of ``rows`` (name -> {key: number or None}): a first column titled ``first`` with the names,
    then one column per :class:`Column`; the best value of a column in bold when two or more rows have one."""
    best = {}
    for col in columns:
        present = [v for v in (_finite(row.get(col.key)) for row in rows.values()) if v is not None]
        best[col.key] = max(col.score(v) for v in present) if len(present) > 1 else None
    cells, bold = [], []
    for name, row in rows.items():
        values = [_finite(row.get(col.key)) for col in columns]
        cells.append([str(name)] + ["n/a" if v is None else col.fmt.format(v) for col, v in zip(columns, values, strict=True)])
        bold.append([False] + [v is not None and best[col.key] is not None and col.score(v) == best[col.key]
                               for col, v in zip(columns, values, strict=True)])
    return Table([first] + [col.title for col in columns], cells, bold)
