"""Depth for the memory write-back: estimators, and alignment of predicted depth to the memory's scale.

A generated chunk needs depth before it can be fused into the map. RGB-D codecs (the tiny model) decode their
own depth; RGB codecs (a video VAE) use a :class:`DepthEstimator`. Either way the predicted depth is
aligned to the depth the memory renders at the same cameras on co-visible pixels (:func:`align_depth`, a
robust scale and shift), so the map does not drift in scale from chunk to chunk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

import torch

__all__ = ["DepthEstimator", "TransformersDepthEstimator", "align_depth", "DepthAlignment"]


@runtime_checkable
class DepthEstimator(Protocol):
    """Anything that maps frames (T, 3, H, W) in [0, 1] to z-depth (T, 1, H, W) (any scale; 0 = unknown)."""

    def __call__(self, frames: torch.Tensor) -> torch.Tensor: ...


class TransformersDepthEstimator:
    """Adapter for a local Hugging Face ``transformers`` depth-estimation checkpoint (e.g. Depth Anything V2, DPT).

    Relative-depth models predict disparity-like values; ``output="disparity"`` inverts them to depth (their
    unknown scale and shift are removed by :func:`align_depth` afterwards, or fitted to a clip's cameras by
    :func:`worldmem.data.depth_fit.fit_depth_affine` from :meth:`predict`'s raw output).

    Frames are resized to a multiple of the model's patch size and normalised with the folder's
    ``preprocessor_config.json`` ``image_mean`` / ``image_std`` (ImageNet's without one).

    Args:
        path: a local folder with ``config.json`` and the weights (nothing is downloaded).
        output: "depth" (metric models), "disparity" (relative models) or "auto" ("depth" when the config's
            ``depth_estimation_type`` is "metric", else "disparity").
        batch_size: frames per forward pass.
    Raises:
        FileNotFoundError without ``config.json``; ValueError (one line naming the folder) when the checkpoint
        does not load.
    """

    def __init__(self, path, output: str = "disparity", device: str | torch.device = "cpu", batch_size: int = 8):
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"depth estimator: no config.json in {path}; expected a local transformers "
                                    f"depth-estimation checkpoint (nothing is downloaded)")
        if output not in ("depth", "disparity", "auto"):
            raise ValueError(f"output: expected 'depth', 'disparity' or 'auto', got {output!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        try:
            from transformers import AutoModelForDepthEstimation
        except ImportError as err:
            raise ImportError("depth estimator: the 'transformers' package is needed for this adapter "
                              "(pip install transformers)") from err
        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(path, local_files_only=True).to(device).eval()
        except Exception as err:  # transformers raises many kinds for a broken folder; report one line
            text = " ".join(str(err).split())[:300]
            raise ValueError(f"depth estimator {path}: not a loadable transformers depth-estimation checkpoint "
                             f"({type(err).__name__}: {text})") from err
        config = self.model.config.to_dict()
        if output == "auto":
            output = "depth" if config.get("depth_estimation_type") == "metric" else "disparity"
        self.output = output
        self.batch_size = batch_size
        self.device = torch.device(device)
        backbone = config.get("backbone_config") or {}
        self.patch = int(backbone.get("patch_size") or config.get("patch_size") or 14)
        # transformers' plain ViT DPT reshapes its tokens to a square grid: feed it square frames.
        self.square = config.get("model_type") == "dpt" and not backbone and not config.get("is_hybrid")
        mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
        processor = path / "preprocessor_config.json"
        if processor.is_file():
            try:
                settings = json.loads(processor.read_text())
                mean, std = settings.get("image_mean", mean), settings.get("image_std", std)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise ValueError(f"depth estimator {processor}: not valid JSON ({err})") from None
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    @torch.no_grad()
    def predict(self, frames: torch.Tensor) -> torch.Tensor:
        """The model's own output for frames (T, 3, H, W) in [0, 1]: (T, 1, H, W) depth or disparity (see
        ``self.output``), at the frames' size, ``batch_size`` frames per forward pass."""
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames: expected shape (T, 3, H, W), got {tuple(frames.shape)}")
        t, _, h, w = frames.shape
        size = (max(self.patch, round(h / self.patch) * self.patch), max(self.patch, round(w / self.patch) * self.patch))
        if self.square:
            size = (max(size),) * 2
        preds = []
        for start in range(0, t, self.batch_size):
            x = torch.nn.functional.interpolate(frames[start:start + self.batch_size].float(), size=size,
                                                mode="bilinear", align_corners=False)
            x = ((x - self.mean) / self.std).to(self.device)
            pred = self.model(pixel_values=x).predicted_depth[:, None].float().cpu()
            preds.append(torch.nn.functional.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False))
        return torch.cat(preds) if preds else frames.new_zeros(0, 1, h, w)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        pred = self.predict(frames)
        if self.output == "disparity":
            pred = torch.where(pred > 1e-6, 1.0 / pred.clamp(min=1e-6), torch.zeros_like(pred))
        return pred


class DepthAlignment(NamedTuple):
    """``aligned = scale * depth + shift``; ``inliers``: pixels used in the final fit (0: not aligned)."""

    scale: float
    shift: float
    inliers: int


def align_depth(depth: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor | None = None,
                min_pixels: int = 64, iterations: int = 5, shift: bool = True) -> tuple[torch.Tensor, DepthAlignment]:
    """Aligns ``depth`` to ``reference`` with a robust least-squares scale (and shift) on co-visible pixels.

    Pixels where both are positive (and ``mask``) are fitted. The fit starts from matching the quartiles of the two
    depths, then each iteration refits by least squares on the pixels whose residual is within 3 robust standard
    deviations (1.4826 x MAD) of the last fit. With fewer than ``min_pixels``
    co-visible pixels (nothing to align to, e.g. the memory is empty there) the depth is returned unchanged
    with scale 1, shift 0. A fit with a non-positive scale is rejected the same way.

    Args:
        depth: (..., H, W) predicted depth, 0 = unknown.
        reference: same shape, the memory's rendered depth, 0 = not covered.
        mask: optional bool of the same shape restricting the pixels used.
    Returns:
        (aligned depth with unknown pixels kept at 0, DepthAlignment(scale, shift, inliers)).
    """
    if depth.shape != reference.shape:
        raise ValueError(f"reference: expected the shape of depth {tuple(depth.shape)}, got {tuple(reference.shape)}")
    valid = (depth > 0) & (reference > 0)
    if mask is not None:
        valid &= mask.to(torch.bool)
    x, y = depth[valid].double(), reference[valid].double()
    if x.numel() < min_pixels:
        return depth, DepthAlignment(1.0, 0.0, 0)
    # Start from a quantile match (insensitive to outliers), then refit by least squares on the inliers.
    if shift:
        qx, qy = torch.quantile(x, torch.tensor([0.25, 0.5, 0.75], dtype=x.dtype)), torch.quantile(
            y, torch.tensor([0.25, 0.5, 0.75], dtype=y.dtype))
        scale = float((qy[2] - qy[0]) / (qx[2] - qx[0]).clamp(min=1e-12))
        offset = float(qy[1] - scale * qx[1])
    else:
        scale, offset = float(y.median() / x.median().clamp(min=1e-12)), 0.0
    keep = torch.ones_like(x, dtype=torch.bool)
    for _ in range(iterations):
        residual = y - (scale * x + offset)
        mad = (residual - residual.median()).abs().median()
        keep = residual.abs() <= 3.0 * 1.4826 * mad.clamp(min=1e-9)
        xs, ys = x[keep], y[keep]
        if xs.numel() < min_pixels:
            break
        if shift:
            a = torch.stack([xs, torch.ones_like(xs)], dim=1)
            sol = torch.linalg.lstsq(a, ys[:, None]).solution[:, 0]
            scale, offset = float(sol[0]), float(sol[1])
        else:
            scale = float((xs * ys).sum() / (xs * xs).sum().clamp(min=1e-12))
    if not scale > 0:
        return depth, DepthAlignment(1.0, 0.0, 0)
    aligned = torch.where(depth > 0, (scale * depth + offset).clamp(min=0.0).to(depth.dtype), torch.zeros_like(depth))
    return aligned, DepthAlignment(scale, offset, int(keep.sum()))
