"""LPIPS (Zhang et al., 2018, AlexNet variant) in plain torch, from a user-supplied AlexNet weights file.

Why our own: the ``lpips`` package and torchmetrics' LPIPS both build AlexNet through torchvision, and
installing torchvision would replace the CPU torch build. LPIPS needs two sets of weights:

- the AlexNet backbone (ImageNet-trained): NOT shipped; the user supplies it as a file, either a
  torchvision-format ``alexnet`` state_dict saved with ``torch.save`` (``.pth``/``.pt``, loaded with
  ``weights_only=True``) or a ``.safetensors`` file with the same key names. Only
  ``features.{0,3,6,8,10}.{weight,bias}`` are used; ``classifier.*`` keys are ignored. (For example, on a
  machine with torchvision: ``torch.save(torchvision.models.alexnet(weights="DEFAULT").state_dict(), "alexnet.pth")``.)
- the five linear (1x1 conv) layers of LPIPS v0.1: shipped inside the torchmetrics package
  (``torchmetrics/functional/image/lpips_models/alex.pth``), which is a plain dependency; found on disk without
  importing torchmetrics' torchvision-dependent module.

The computation (``lpips`` v0.1 / torchmetrics, ``normalize=True``): images in [0, 1] are mapped to [-1, 1],
shifted and scaled per channel (``(x - shift) / scale`` with ``shift = (-0.030, -0.088, -0.188)``,
``scale = (0.458, 0.448, 0.450)``), passed through AlexNet's five conv+ReLU stages (outputs after
``features.1, 4, 7, 9, 11``); each stage's features are unit-normalised over channels
(``f / sqrt(eps + sum_c f^2)``), squared differences are weighted per channel by the linear layer, averaged over
space and summed over the five stages. Frames must be at least :data:`MIN_SIZE` pixels on each side (AlexNet's
strides); pass ``resize`` to upsample smaller frames.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LPIPS", "LPIPSWeightsError", "AlexNetFeatures", "MIN_SIZE", "linear_weights_path", "load_lpips", "lpips_status"]

MIN_SIZE = 31
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-8
# (in, out, kernel, stride, padding) of torchvision's alexnet().features conv layers, by index.
_CONVS = {0: (3, 64, 11, 4, 2), 3: (64, 192, 5, 1, 2), 6: (192, 384, 3, 1, 1), 8: (384, 256, 3, 1, 1), 10: (256, 256, 3, 1, 1)}
CHANNELS = (64, 192, 384, 256, 256)


class LPIPSWeightsError(ValueError):
    """A weights file is missing or not what LPIPS needs (the message names the file)."""


class AlexNetFeatures(nn.Module):
    """AlexNet's convolutional trunk with torchvision's module indices (``features.0`` ... ``features.12``).

    ``forward(x)`` returns the five ReLU outputs LPIPS compares (after ``features.1, 4, 7, 9, 11``).
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(12):
            if i in _CONVS:
                cin, cout, k, s, p = _CONVS[i]
                layers.append(nn.Conv2d(cin, cout, k, stride=s, padding=p))
            elif i in (2, 5):
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            else:
                layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in (1, 4, 7, 9, 11):
                taps.append(x)
        return taps


def linear_weights_path() -> Path:
    """The LPIPS v0.1 AlexNet linear-layer weights that torchmetrics ships (``lpips_models/alex.pth``)."""
    spec = importlib.util.find_spec("torchmetrics")
    if spec is None or not spec.submodule_search_locations:
        raise LPIPSWeightsError("LPIPS linear weights: the torchmetrics package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "functional" / "image" / "lpips_models" / "alex.pth"
    if not path.is_file():
        raise LPIPSWeightsError(f"LPIPS linear weights: {path} not found in the torchmetrics package")
    return path


def _load_state(path: Path, what: str) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise LPIPSWeightsError(f"{what}: file not found: {path}")
    if not path.is_file():
        raise LPIPSWeightsError(f"{what}: not a file: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt", device="cpu") as f:
                return {k: f.get_tensor(k) for k in f.keys() if not k.startswith("classifier.")}
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file becomes one clear line
        if isinstance(err, pickle.UnpicklingError):  # torch's message here suggests weights_only=False: never
            reason = "not a torch checkpoint holding only tensors"
        else:
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise LPIPSWeightsError(f"{what}: cannot read {path} as a torch state_dict or safetensors file ({reason})") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise LPIPSWeightsError(f"{what}: {path} does not hold a state_dict (a dict of tensors)")
    return state


class LPIPS(nn.Module):
    """LPIPS distance with an AlexNet backbone. Build it with :meth:`from_file`.

    ``lpips(pred, target)`` with pred, target (T, 3, H, W) float in [0, 1] returns (T,) distances (0 for
    identical images, larger = more different; symmetric).

    Args:
        resize: if given, frames are bilinearly resized to ``resize`` x ``resize`` first (as torchmetrics'
            ``resize`` option); needed for frames smaller than :data:`MIN_SIZE`.
    """

    def __init__(self, resize: int | None = None) -> None:
        super().__init__()
        if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < MIN_SIZE):
            raise ValueError(f"resize: expected None or an int >= {MIN_SIZE}, got {resize!r}")
        self.resize = resize
        self.net = AlexNetFeatures()
        self.lins = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1), requires_grad=False) for c in CHANNELS])
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_file(cls, path: str | Path, linear_path: str | Path | None = None, resize: int | None = None) -> LPIPS:
        """LPIPS from an AlexNet backbone file and (by default) torchmetrics' shipped linear layers.

        Args:
            path: the AlexNet weights: a torchvision-format state_dict (``.pth``/``.pt``) or ``.safetensors``.
            linear_path: the LPIPS linear-layer weights (``lin{0..4}.model.1.weight``); default
                :func:`linear_weights_path`.
            resize: see :class:`LPIPS`.

        Raises:
            LPIPSWeightsError (a ValueError): one line naming the file when it is missing, unreadable, or lacks
            a key or has a wrongly shaped tensor.
        """
        path = Path(path)
        model = cls(resize=resize)
        backbone = _load_state(path, "AlexNet weights")
        own = model.net.state_dict()
        for key, target in own.items():
            if key not in backbone:
                raise LPIPSWeightsError(
                    f"AlexNet weights: {path} has no {key!r} (expected a torchvision alexnet state_dict with "
                    "features.{0,3,6,8,10}.{weight,bias})"
                )
            if tuple(backbone[key].shape) != tuple(target.shape):
                raise LPIPSWeightsError(f"AlexNet weights: {path} {key!r} has shape {tuple(backbone[key].shape)}, "
                                        f"expected {tuple(target.shape)}")
        model.net.load_state_dict({k: backbone[k].float() for k in own})
        lin_file = Path(linear_path) if linear_path is not None else linear_weights_path()
        lin_state = _load_state(lin_file, "LPIPS linear weights")
        for k, c in enumerate(CHANNELS):
            key = f"lin{k}.model.1.weight"
            if key not in lin_state or tuple(lin_state[key].shape) != (1, c, 1, 1):
                got = tuple(lin_state[key].shape) if key in lin_state else "missing"
                raise LPIPSWeightsError(f"LPIPS linear weights: {lin_file} {key!r} is {got}, expected shape (1, {c}, 1, 1)")
            model.lins[k].data.copy_(lin_state[key].float())
        return model

    def train(self, mode: bool = True) -> LPIPS:  # a metric: never dropout/training mode
        return super().train(False)

    @torch.no_grad()
    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(T,) LPIPS distances between pred and target, both (T, 3, H, W) float in [0, 1]."""
        for name, x in (("pred", pred), ("target", target)):
            if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
                got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"{name}: expected shape (T, 3, H, W), got {got}")
        if pred.shape != target.shape:
            raise ValueError(f"target: expected shape {tuple(pred.shape)} (as pred), got {tuple(target.shape)}")
        if self.resize is None and min(pred.shape[-2:]) < MIN_SIZE:
            raise ValueError(f"pred: expected frames of at least {MIN_SIZE} x {MIN_SIZE} for AlexNet LPIPS, got "
                             f"{tuple(pred.shape[-2:])}; pass resize=64")
        feats0 = self.net(self._prepare(pred))
        feats1 = self.net(self._prepare(target))
        total = torch.zeros(pred.shape[0])
        for f0, f1, lin in zip(feats0, feats1, self.lins, strict=True):
            n0 = f0 / torch.sqrt(_EPS + (f0 * f0).sum(dim=1, keepdim=True))
            n1 = f1 / torch.sqrt(_EPS + (f1 * f1).sum(dim=1, keepdim=True))
            total = total + F.conv2d((n0 - n1) ** 2, lin).mean(dim=(1, 2, 3))
        return total

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() * 2.0 - 1.0 - self.shift) / self.scale
        if self.resize is not None:
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
        return x


def load_lpips(path: str | Path | None, resize: int | None = None) -> tuple[LPIPS | None, str]:
    """``(model, reason)``: the LPIPS model, or None with the reason it is absent (never raises for bad files)."""
    if path is None:
        return None, "no AlexNet weights given (pass --lpips-weights PATH to a torchvision alexnet state_dict)"
    try:
        model = LPIPS.from_file(path, resize=resize)
    except LPIPSWeightsError as err:
        return None, str(err)
    return model, f"AlexNet weights from {Path(path)}"


def lpips_status(path: str | Path | None) -> tuple[bool, str]:
    """``(available, reason)`` for reports: whether LPIPS can be computed from ``path`` and why (not)."""
    model, reason = load_lpips(path)
    return model is not None, reason
