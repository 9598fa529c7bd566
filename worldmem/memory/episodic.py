"""Episodic memory: a bounded set of keyframes chosen by what they see.

Each keyframe carries its *visibility set*: the sorted keys of the coarse voxels (side
``visibility_voxel_size``) its valid depth pixels land in. Everything is decided on these sets, i.e. on what
a frame actually saw, not on frustum heuristics:

- insertion: a frame becomes a keyframe when at least ``novelty_threshold`` of its voxels are seen by no
  current keyframe (so a near-duplicate is never added);
- eviction (when full): the keyframe whose removal loses the fewest voxels seen by no other keyframe goes
  (ties: the oldest), so coverage is kept;
- retrieval: greedy set cover of the voxels visible from the target cameras; each step takes the keyframe that
  adds the most not-yet-covered target voxels and stops when the gain falls below ``min_overlap`` of them.

Costs are bounded by K and the frame size, never by the video's length.
"""

from __future__ import annotations

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.points import visible_voxel_keys
from worldmem.memory.config import EpisodicConfig
from worldmem.memory.readout import FrameSet

__all__ = ["EpisodicMemory"]


class EpisodicMemory:
    def __init__(self, config: EpisodicConfig | None = None):
        self.config = config or EpisodicConfig()
        self._frames: list[torch.Tensor] = []
        self._depth: list[torch.Tensor] = []
        self._cameras: list[Cameras] = []
        self._indices: list[int] = []
        self._keys: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def indices(self) -> list[int]:
        """Global frame indices of the keyframes, in slot order."""
        return list(self._indices)

    def visibility(self, depth: torch.Tensor, cameras: Cameras) -> torch.Tensor:
        """Sorted unique coarse-voxel keys seen by depth maps (T, 1, H, W) from cameras (T,)."""
        return visible_voxel_keys(depth, cameras, self.config.visibility_voxel_size, self.config.pixel_stride)

    def novelty(self, keys: torch.Tensor) -> float:
        """Fraction of ``keys`` seen by no keyframe (1.0 when there are no keyframes)."""
        if keys.numel() == 0:
            return 0.0
        if not self._keys:
            return 1.0
        seen = torch.isin(keys, torch.cat(self._keys))
        return 1.0 - float(seen.float().mean())

    def write(self, frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras, indices: torch.Tensor) -> list[int]:
        """Considers each frame in order for insertion; returns the global indices that became keyframes."""
        inserted = []
        for i in range(frames.shape[0]):
            keys = self.visibility(depth[i:i + 1], cameras[i:i + 1])
            if keys.numel() == 0 or self.novelty(keys) < self.config.novelty_threshold:
                continue
            self._frames.append(frames[i].clone())
            self._depth.append(depth[i].clone())
            self._cameras.append(cameras[i:i + 1])
            self._indices.append(int(indices[i]))
            self._keys.append(keys)
            inserted.append(int(indices[i]))
            if len(self) > self.config.keyframe_pool:
                evicted = self._evict()
                if evicted == int(indices[i]):
                    inserted.pop()
        return inserted

    def _unique_coverage(self) -> torch.Tensor:
        """(K,) number of voxels each keyframe sees that no other keyframe sees."""
        allkeys = torch.cat(self._keys)
        owner = torch.cat([torch.full((k.numel(),), j) for j, k in enumerate(self._keys)])
        uniq, counts = torch.unique(allkeys, return_counts=True)
        count_of = counts[torch.searchsorted(uniq, allkeys)]
        solo = (count_of == 1).long()
        return torch.zeros(len(self._keys), dtype=torch.long).scatter_add_(0, owner, solo)

    def _evict(self) -> int:
        loss = self._unique_coverage()
        order = sorted(range(len(self)), key=lambda j: (int(loss[j]), self._indices[j]))
        j = order[0]
        gone = self._indices[j]
        for store in (self._frames, self._depth, self._cameras, self._indices, self._keys):
            del store[j]
        return gone

    def retrieve(self, target_keys: torch.Tensor, max_items: int | None = None) -> FrameSet | None:
        """Greedily picks keyframes covering ``target_keys`` (sorted unique voxel keys visible from the targets).

        Returns the chosen keyframes best first with ``scores`` = the fraction of target voxels each added,
        or None when none adds at least ``min_overlap``.
        """
        max_items = self.config.num_retrieved if max_items is None else max_items
        if not self._keys or target_keys.numel() == 0 or max_items <= 0:
            return None
        hits = [torch.isin(target_keys, k) for k in self._keys]  # (K,) masks over target voxels
        covered = torch.zeros_like(hits[0])
        chosen, scores = [], []
        total = float(target_keys.numel())
        for _ in range(min(max_items, len(hits))):
            gains = torch.stack([(h & ~covered).sum() for h in hits]).float()
            for j in chosen:
                gains[j] = -1.0
            best = int(torch.argmax(gains))  # first maximum: lowest slot wins ties, deterministic
            if gains[best] / total < self.config.min_overlap or gains[best] <= 0:
                break
            chosen.append(best)
            scores.append(float(gains[best]) / total)
            covered |= hits[best]
        if not chosen:
            return None
        return FrameSet(
            frames=torch.stack([self._frames[j] for j in chosen]),
            depth=torch.stack([self._depth[j] for j in chosen]),
            cameras=Cameras.cat([self._cameras[j] for j in chosen]),
            indices=torch.tensor([self._indices[j] for j in chosen], dtype=torch.int64),
            scores=torch.tensor(scores, dtype=torch.float32),
        )

    def all_keyframes(self) -> FrameSet | None:
        if not self._frames:
            return None
        return FrameSet(torch.stack(self._frames), torch.stack(self._depth), Cameras.cat(self._cameras),
                        torch.tensor(self._indices, dtype=torch.int64))

    def state_dict(self) -> dict[str, torch.Tensor]:
        if not self._frames:
            return {}
        cams = Cameras.cat(self._cameras)
        return {
            "frames": torch.stack(self._frames),
            "depth": torch.stack(self._depth),
            "cam_from_world": cams.cam_from_world,
            "K": cams.K,
            "indices": torch.tensor(self._indices, dtype=torch.int64),
            "keys": torch.cat(self._keys),
            "key_counts": torch.tensor([k.numel() for k in self._keys], dtype=torch.int64),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor], height: int, width: int) -> None:
        self.__init__(self.config)
        if not state:
            return
        cams = Cameras(state["cam_from_world"], state["K"], height, width)
        self._frames = list(state["frames"].unbind(0))
        self._depth = list(state["depth"].unbind(0))
        self._cameras = [cams[j:j + 1] for j in range(len(cams))]
        self._indices = [int(i) for i in state["indices"]]
        self._keys = list(torch.split(state["keys"], state["key_counts"].tolist()))
