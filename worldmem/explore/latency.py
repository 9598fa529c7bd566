"""What one chunk of ``worldmem explore`` cost, stage by stage, and its one printed line.

The line is stable and parseable (:func:`parse_line` reads it back; the browser test and docs/explore.md rely on
it)::

    chunk 3: frames 14-17, read 12 ms, denoise 150 ms, decode 2 ms, depth+align 5 ms, write 20 ms, send 8 ms,
    total 201 ms, 19.9 fps, map 23,456 points (+1,234)

(one line). ``chunk`` counts the world's generated chunks from 0 (a loaded world goes on counting), ``frames`` are
the chunk's first and last frame index in the world's video, the stages are the pipeline's own (its
``timings``: memory read and encoding, denoising, decoding, depth with alignment and the write gate, the memory
write) plus ``send`` (the map increment, cameras and images to the page), ``total`` is the chunk's wall time
from the start of the pipeline call to the end of sending (so it includes what no stage names), ``fps`` is the
chunk's frames over ``total``, and ``map`` the map's surface points after the chunk (and how many were new).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["STAGES", "ChunkReport", "parse_line"]

STAGES = {"read": "read", "denoise": "denoise", "decode": "decode", "depth": "depth+align", "write": "write",
          "send": "send"}
"""Stage key -> its name on the line, in the order of the line."""


@dataclass
class ChunkReport:
    """One generated chunk's cost."""

    index: int
    """The chunk counter of the world (0 = the first generated chunk)."""
    first: int
    """Index of the chunk's first frame in the world's video."""
    frames: int
    """Frames in the chunk."""
    stages: dict[str, float] = field(default_factory=dict)
    """Seconds per stage (keys of :data:`STAGES`)."""
    total: float = 0.0
    """Wall seconds of the whole chunk, generation and sending."""
    map_points: int = 0
    """Surface points of the map after the chunk."""
    new_points: int = 0
    """Of those, the points sent to the page for the first time."""

    @property
    def fps(self) -> float:
        return self.frames / self.total if self.total > 0 else float("inf")

    def line(self) -> str:
        stages = ", ".join(f"{name} {self.stages.get(key, 0.0) * 1e3:.0f} ms" for key, name in STAGES.items())
        return (f"chunk {self.index}: frames {self.first}-{self.first + self.frames - 1}, {stages}, "
                f"total {self.total * 1e3:.0f} ms, {self.fps:.1f} fps, map {self.map_points:,} points "
                f"(+{self.new_points:,})")


_LINE = re.compile(r"^chunk (?P<index>\d+): frames (?P<first>\d+)-(?P<last>\d+), "
                   + ", ".join(rf"{re.escape(name)} (?P<{key}>\d+) ms" for key, name in STAGES.items())
                   + r", total (?P<total>\d+) ms, (?P<fps>[\d.]+|inf) fps, map (?P<map>[\d,]+) points "
                     r"\(\+(?P<new>[\d,]+)\)$")


def parse_line(line: str) -> ChunkReport | None:
    """The report a printed chunk line holds (times rounded to the millisecond), or None for any other line."""
    m = _LINE.match(line.strip())
    if m is None:
        return None
    first = int(m["first"])
    return ChunkReport(index=int(m["index"]), first=first, frames=int(m["last"]) - first + 1,
                       stages={key: int(m[key]) / 1e3 for key in STAGES}, total=int(m["total"]) / 1e3,
                       map_points=int(m["map"].replace(",", "")), new_points=int(m["new"].replace(",", "")))
