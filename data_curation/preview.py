"""``python -m data_curation preview DIR --sample ID``: one sample as an mp4 grid.

Columns, one row per target frame: target | memory render | coverage | keyframes (up to K, best first, held
still; black when fewer). ``ID`` is a sample key from manifest.jsonl or its 0-based row number.

The manifest's rows must be JSON objects with a ``key`` and a ``shard`` (strings); a row's ``shard`` is a path
inside the dataset folder (worldmem.utils.paths: absolute paths, ``../`` and links out are refused), and the
default output name is the sample key, which must be a plain file name.
"""

from __future__ import annotations

from pathlib import Path

import torch

from data_curation.stats import TEXT, read_rows
from worldmem.data.sample import TrainingSample
from worldmem.data.shards import iter_shard
from worldmem.utils.paths import inside, plain_name
from worldmem.utils.video import mask_to_rgb, side_by_side, write_video

__all__ = ["find_sample", "preview_grid", "write_preview"]


def _manifest(root: Path) -> list[dict]:
    path = root / "manifest.jsonl"
    if not path.is_file():
        raise ValueError(f"{root}: no manifest.jsonl (not a curated dataset folder, or nothing built yet)")
    return read_rows(path, {"key": TEXT, "shard": TEXT})


def find_sample(root: str | Path, sample: str) -> TrainingSample:
    """The sample with key (or manifest row number) ``sample``; ``ValueError`` when there is none, or when the
    manifest row, its shard or the sample is broken (naming the file, the row or the sample key)."""
    root = Path(root)
    rows = _manifest(root)
    keys = [r["key"] for r in rows]
    if sample.isdigit() and sample not in keys:
        i = int(sample)
        if i >= len(rows):
            raise ValueError(f"--sample {sample}: the manifest has {len(rows)} samples (0..{len(rows) - 1})")
    elif sample in keys:
        i = keys.index(sample)
    else:
        hint = f"; e.g. {keys[0]}" if rows else ""
        raise ValueError(f"--sample {sample!r}: no such key in manifest.jsonl{hint}")
    row = rows[i]
    shard = inside(root, row["shard"], f"manifest.jsonl: row {i}: shard")
    for key, files in iter_shard(shard):
        if key == row["key"]:
            return TrainingSample.from_bytes(files, name=f"{shard}: sample {key}", key=key)
    raise ValueError(f"{shard}: sample {row['key']}: listed in manifest.jsonl (row {i}) but not in the shard")


def preview_grid(sample: TrainingSample) -> torch.Tensor:
    """(T, 3, H, W') frames: target | memory render | coverage | keyframes."""
    target = sample.target.frames
    t, _, h, w = target.shape
    sp = sample.readout.spatial
    kf = sample.readout.keyframes
    k = max(1, 0 if kf is None else len(kf))
    tiles = []
    for j in range(k):
        img = kf.frames[j] if kf is not None and j < len(kf) else torch.zeros(3, h, w)
        tiles.append(img[None].expand(t, -1, -1, -1))
    return side_by_side(target, sp.rgb, mask_to_rgb(sp.mask), *tiles)


def write_preview(root: str | Path, sample: str, out: str | Path | None = None, fps: int = 4) -> Path:
    s = find_sample(root, sample)
    if out is None:
        out = Path(root) / "previews" / f"{plain_name(s.key, 'sample key')}.mp4"
    grid = preview_grid(s)
    # Small frames are scaled up (nearest) so players show them at a viewable size.
    scale = max(1, 256 // grid.shape[-2])
    if scale > 1:
        grid = grid.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    write_video(Path(out), grid, fps=fps)
    return Path(out)
