"""Working memory: a sliding window of the W most recent frames with their depth and cameras."""

from __future__ import annotations

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.memory.config import WorkingConfig
from worldmem.memory.readout import FrameSet

__all__ = ["WorkingMemory"]


class WorkingMemory:
    """Keeps the newest ``config.window`` frames (oldest first). Writes cost O(W), independent of video length."""

    def __init__(self, config: WorkingConfig | None = None):
        self.config = config or WorkingConfig()
        self._frames: torch.Tensor | None = None
        self._depth: torch.Tensor | None = None
        self._cameras: Cameras | None = None
        self._indices = torch.zeros(0, dtype=torch.int64)

    def __len__(self) -> int:
        return 0 if self._frames is None else self._frames.shape[0]

    def write(self, frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras, indices: torch.Tensor) -> None:
        """Appends frames (T, 3, H, W), depth (T, 1, H, W), cameras (T,) and their global indices (T,)."""
        w = self.config.window
        frames, depth, cameras, indices = frames[-w:], depth[-w:], cameras[-w:], indices[-w:]
        if self._frames is None:
            self._frames, self._depth, self._cameras, self._indices = frames, depth, cameras, indices
        else:
            self._frames = torch.cat([self._frames, frames])[-w:]
            self._depth = torch.cat([self._depth, depth])[-w:]
            self._cameras = Cameras.cat([self._cameras, cameras])[-w:]
            self._indices = torch.cat([self._indices, indices])[-w:]

    def read(self, window: int | None = None) -> FrameSet | None:
        """The newest ``window`` (default: all kept) frames, oldest first; None when empty."""
        if self._frames is None:
            return None
        n = len(self) if window is None else min(window, len(self))
        if n <= 0:
            return None
        return FrameSet(self._frames[-n:], self._depth[-n:], self._cameras[-n:], self._indices[-n:])

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self._frames is None:
            return {}
        return {
            "frames": self._frames, "depth": self._depth, "indices": self._indices,
            "cam_from_world": self._cameras.cam_from_world, "K": self._cameras.K,
        }

    def load_state_dict(self, state: dict[str, torch.Tensor], height: int, width: int) -> None:
        if not state:
            self.__init__(self.config)
            return
        self._frames, self._depth, self._indices = state["frames"], state["depth"], state["indices"]
        self._cameras = Cameras(state["cam_from_world"], state["K"], height, width)
