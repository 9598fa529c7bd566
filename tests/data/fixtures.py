"""Writers of each reader's on-disk format, from a synthetic scene, for reader and curation tests."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

from worldmem.geometry import Cameras
from worldmem.geometry import trajectories as tr
from worldmem.synthetic import SyntheticScene
from worldmem.utils.video import write_video


@lru_cache(maxsize=8)
def rendered(n: int = 8, height: int = 48, width: int = 48, seed: int = 1):
    """(frames (n, 3, H, W), depth (n, 1, H, W), cameras (n,)) of an out-and-back walk through a scene."""
    scene = SyntheticScene.random(seed=seed, dynamic=False)
    lo, hi = scene.free_box
    c = ((lo + hi) / 2).tolist()
    cams = tr.out_and_back(n, start=c, heading_deg=20.0, distance=1.0, yaw_sweep_deg=60.0, pitch_deg=-5.0,
                           height=height, width=width, fov_deg=65.0)
    frames, depth = scene.render(cams)
    return frames, depth, cams


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] -> (N, H, W, 3) uint8."""
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_pngs(folder: Path, frames: torch.Tensor, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for img, name in zip(to_uint8(frames), names, strict=True):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        imageio.imwrite(folder / name, img)
        paths.append(folder / name)
    return paths


def write_realestate10k(root: Path, clip_id: str, frames, depth, cams: Cameras, depth_dir: Path | None,
                        video: bool = False) -> Path:
    """``root/<clip_id>.txt`` (URL line + rows), frames in ``root/<clip_id>/`` or ``root/<clip_id>.mp4``."""
    root.mkdir(parents=True, exist_ok=True)
    timestamps = [1_000_000 + 33_367 * i for i in range(len(cams))]
    rows = cams.to_realestate10k(timestamps)
    lines = ["https://www.youtube.com/watch?v=fixture"]
    for r in rows.tolist():
        lines.append(" ".join([str(int(r[0]))] + [repr(v) for v in r[1:]]))
    (root / f"{clip_id}.txt").write_text("\n".join(lines) + "\n")
    if video:
        write_video(root / f"{clip_id}.mp4", frames, fps=10)
    else:
        write_pngs(root / clip_id, frames, [f"{t}.png" for t in timestamps])
    if depth_dir is not None:
        depth_dir.mkdir(parents=True, exist_ok=True)
        np.save(depth_dir / f"{clip_id}.npy", depth[:, 0].numpy().astype(np.float32))
    return root / f"{clip_id}.txt"


def write_nerfstudio(folder: Path, frames, depth, cams: Cameras, depth_scale: float = 1e-4,
                     per_frame_intrinsics: bool = False) -> Path:
    """``folder/transforms.json`` with OpenGL ``transform_matrix``, PNG images and 16-bit depth PNGs."""
    n = len(cams)
    names = [f"frame_{i + 1:05d}.png" for i in range(n)]
    write_pngs(folder / "images", frames, names)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        imageio.imwrite(folder / "depth" / name, np.round(depth[i, 0].numpy() / depth_scale).astype(np.uint16))
    gl = cams.to_opengl()
    entries = []
    for i, name in enumerate(names):
        e = {"file_path": f"images/{name}", "transform_matrix": gl[i].tolist(), "depth_file_path": f"depth/{name}"}
        if per_frame_intrinsics:
            k = cams.K[i]
            e.update(fl_x=float(k[0, 0]), fl_y=float(k[1, 1]), cx=float(k[0, 2]), cy=float(k[1, 2]))
        entries.append(e)
    data = {"camera_model": "OPENCV", "w": cams.width, "h": cams.height, "k1": 0.0, "k2": 0.0, "p1": 0.0,
            "p2": 0.0, "depth_unit_scale_factor": depth_scale, "frames": entries[::-1]}  # order must not matter
    if not per_frame_intrinsics:
        k = cams.K[0]
        data.update(fl_x=float(k[0, 0]), fl_y=float(k[1, 1]), cx=float(k[0, 2]), cy=float(k[1, 2]))
    (folder / "transforms.json").write_text(json.dumps(data, indent=1))
    return folder


def quaternion_xyzw(r: np.ndarray) -> np.ndarray:
    """Rotation (3, 3) -> unit quaternion (qx, qy, qz, qw), the naive branchy way."""
    t = np.trace(r)
    if t > 0:
        s = math.sqrt(t + 1.0) * 2
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
        q = [0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s, (r[2, 1] - r[1, 2]) / s]
    elif r[1, 1] > r[2, 2]:
        s = math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
        q = [(r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s, (r[0, 2] - r[2, 0]) / s]
    else:
        s = math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
        q = [(r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s, (r[1, 0] - r[0, 1]) / s]
    q = np.array(q)
    return q / np.linalg.norm(q)


def write_tum(folder: Path, frames, depth, cams: Cameras) -> Path:
    """A TUM RGB-D sequence: rgb.txt, depth.txt (5 ms later), groundtruth.txt (with extra poses between
    frames), 16-bit depth PNGs scaled by 5000 and intrinsics.txt in TUM's integer-centre convention."""
    n = len(cams)
    t_rgb = [1305031102.175304 + i / 30.0 for i in range(n)]
    rgb_names = [f"rgb/{t:.6f}.png" for t in t_rgb]
    dep_names = [f"depth/{t + 0.005:.6f}.png" for t in t_rgb]
    write_pngs(folder, frames, rgb_names)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(dep_names):
        imageio.imwrite(folder / name, np.round(depth[i, 0].numpy() * 5000.0).astype(np.uint16))
    header = "# color images\n# file: 'fixture.bag'\n# timestamp filename\n"
    (folder / "rgb.txt").write_text(header + "".join(f"{t:.6f} {nm}\n" for t, nm in zip(t_rgb, rgb_names, strict=True)))
    (folder / "depth.txt").write_text(header + "".join(
        f"{t + 0.005:.6f} {nm}\n" for t, nm in zip(t_rgb, dep_names, strict=True)))
    wfc = cams.world_from_cam.double().numpy()
    lines = ["# ground truth trajectory", "# timestamp tx ty tz qx qy qz qw"]
    for i, t in enumerate(t_rgb):
        q, p = quaternion_xyzw(wfc[i, :3, :3]), wfc[i, :3, 3]
        lines.append(" ".join(f"{v:.9f}" for v in [t + 0.002, *p, *q]))
        lines.append(" ".join(f"{v:.9f}" for v in [t + 0.016, *(p + 10.0), 0.0, 0.0, 0.0, 1.0]))  # 16 ms away: not nearest
    (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    k = cams.K[0].double()
    (folder / "intrinsics.txt").write_text(
        f"{float(k[0, 0])!r} {float(k[1, 1])!r} {float(k[0, 2]) - 0.5!r} {float(k[1, 2]) - 0.5!r}\n")
    return folder


def write_megasam(path: Path, frames, depth, cams: Cameras) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=to_uint8(frames), depths=depth[:, 0].numpy().astype(np.float32),
             intrinsic=cams.K[0].numpy().astype(np.float32), cam_c2w=cams.world_from_cam.numpy().astype(np.float32))
    return path
