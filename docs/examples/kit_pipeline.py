"""A model run on a benchmark kit as any model would be: ``python docs/examples/kit_pipeline.py KIT VIDEOS``.

It reads ``KIT/episodes.json`` and each episode's ``given.npy`` (the exact given frames), ``given_depth.npy`` and
``cameras.json`` (docs/evaluation.md, "Scoring any model: the kit"), runs the shipped tiny pipeline with full
memory (8 steps, noise seed 0, as ``eval revisit`` does), and writes ``VIDEOS/<id>.npy`` (every frame, lossless)
and ``VIDEOS/<id>_depth.npy``. Then ``python -m eval score --kit KIT --videos VIDEOS --out REPORT`` scores them.
A model of your own replaces the pipeline call; nothing else here is specific to worldmem.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from worldmem.geometry import Cameras
from worldmem.pipelines import WorldMemPipeline


def main(kit: Path, videos: Path) -> None:
    index = json.loads((kit / "episodes.json").read_text())
    pipe = WorldMemPipeline.from_pretrained(Path(__file__).resolve().parents[2] / "checkpoints" / "worldmem-tiny")
    videos.mkdir(parents=True, exist_ok=False)
    for episode in index["episodes"]:
        folder = kit / episode["id"]
        given = torch.from_numpy(np.load(folder / "given.npy")).permute(0, 3, 1, 2)
        depth = torch.from_numpy(np.load(folder / "given_depth.npy"))[:, None]
        cameras = Cameras.from_dict(json.loads((folder / "cameras.json").read_text()))
        out = pipe(frames=given, depth=depth, cameras=cameras, num_inference_steps=8,
                   generator=torch.Generator().manual_seed(0), progress=False)
        np.save(videos / f"{episode['id']}.npy", out.frames.permute(0, 2, 3, 1).numpy().astype(np.float32))
        np.save(videos / f"{episode['id']}_depth.npy", out.depth[:, 0].numpy().astype(np.float32))
        print(episode["id"], flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python docs/examples/kit_pipeline.py KIT VIDEOS")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
