"""The map as the page receives it: after each chunk only the surface points it has not been sent yet.

A point is known by its cell on a grid of a quarter voxel (scene units): the map's surface moves a little as
more frames are fused, and a point that stays in its cell is not sent again. Points that the map later removes
(carved free space) stay on the page; the page shows what was ever seen, the memory file holds the truth.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MapIncrements"]

_BITS = 21
_OFFSET = 1 << (_BITS - 1)


class MapIncrements:
    """Tracks which surface points the page has; :meth:`new_points` gives the rest."""

    def __init__(self) -> None:
        self._sent = np.empty(0, dtype=np.int64)  # sorted cell keys

    @property
    def sent(self) -> int:
        """Points sent so far."""
        return int(self._sent.size)

    def new_points(self, memory) -> tuple[np.ndarray, np.ndarray, int]:
        """(points (M, 3) float32 in scene units, colours (M, 3) uint8, the map's total point count) for the
        map's surface points of ``memory`` (a :class:`~worldmem.memory.WorldMemory`) not sent before."""
        pts, cols = memory.surface_points()
        pts, cols = pts.detach().cpu().numpy(), cols.detach().cpu().numpy()
        total = int(pts.shape[0])
        if total == 0:
            return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8), 0
        cell = memory.config.spatial.voxel_size * (memory.scene_scale or 1.0) / 4.0
        q = np.clip(np.floor(pts / cell).astype(np.int64) + _OFFSET, 0, (1 << _BITS) - 1)
        keys = (q[:, 0] << (2 * _BITS)) | (q[:, 1] << _BITS) | q[:, 2]
        keys, first = np.unique(keys, return_index=True)
        fresh = ~np.isin(keys, self._sent, assume_unique=True)
        self._sent = np.union1d(self._sent, keys[fresh])
        chosen = first[fresh]
        colours = np.clip(cols[chosen] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return pts[chosen].astype(np.float32), colours, total
