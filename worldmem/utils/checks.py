"""Input checks shared by the public APIs.

Every check raises ``ValueError`` with one line that names the argument and states what was expected, so a
bad input never surfaces as a traceback from deep inside a tensor op.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["as_float_tensor", "check_shape", "check_finite", "finite_range", "check_number", "check_images", "check_depth",
           "check_mask"]


def _fmt_shape(shape: Sequence) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def as_float_tensor(name: str, value, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Converts array-likes to a floating tensor; raises if ``value`` is not numeric."""
    if isinstance(value, torch.Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name}: expected a numeric tensor or array, got {type(value).__name__}") from err
    if t.dtype == torch.bool or not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise ValueError(f"{name}: expected a numeric tensor, got dtype {t.dtype}")
    if dtype is not None:
        t = t.to(dtype)
    elif not t.is_floating_point():
        t = t.float()
    return t


def check_shape(name: str, t: torch.Tensor, expected: Sequence) -> None:
    """Checks ``t.shape`` against ``expected``: ints must match, strings name free dims, ``...`` any prefix.

    Example: ``check_shape("frames", x, ("T", 3, "H", "W"))``.
    """
    exp = list(expected)
    shape = list(t.shape)
    if exp and exp[0] is Ellipsis:
        tail = exp[1:]
        ok = len(shape) >= len(tail) and all(
            not isinstance(e, int) or s == e for s, e in zip(shape[len(shape) - len(tail):], tail, strict=True)
        )
        want = "(..., " + ", ".join(str(e) for e in tail) + ")"
    else:
        ok = len(shape) == len(exp) and all(not isinstance(e, int) or s == e for s, e in zip(shape, exp, strict=True))
        want = _fmt_shape(exp)
    if not ok:
        raise ValueError(f"{name}: expected shape {want}, got {_fmt_shape(shape)}")


def finite_range(name: str, t: torch.Tensor) -> tuple[float, float]:
    """(min, max) of ``t`` ((0, 0) when empty) in one read-only pass; they are both finite only when every value
    is (aminmax propagates NaN), else ``ValueError("<name>: contains NaN or inf values ...")``."""
    if not t.numel():
        return 0.0, 0.0
    lo, hi = (float(x) for x in torch.aminmax(t))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name}: contains NaN or inf values; expected finite values")
    return lo, hi


def check_finite(name: str, t: torch.Tensor) -> None:
    finite_range(name, t)


def check_images(name: str, frames, height: int | None = None, width: int | None = None,
                 channels: int = 3) -> torch.Tensor:
    """Checks frames of shape (T, C, H, W), float in [0, 1]; returns them as a float tensor."""
    t = as_float_tensor(name, frames)
    check_shape(name, t, ("T", channels, "H" if height is None else height, "W" if width is None else width))
    lo, hi = finite_range(name, t)
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name}: expected values in [0, 1], got range [{lo:.3g}, {hi:.3g}]")
    return t


def check_depth(name: str, depth, num_frames: int | None = None, height: int | None = None,
                width: int | None = None) -> torch.Tensor:
    """Checks z-depth of shape (T, 1, H, W): finite, >= 0 (0 means unknown); returns a float tensor."""
    t = as_float_tensor(name, depth)
    check_shape(name, t, ("T" if num_frames is None else num_frames, 1,
                          "H" if height is None else height, "W" if width is None else width))
    lo, _ = finite_range(name, t)
    if lo < 0.0:
        raise ValueError(f"{name}: expected depth >= 0 (0 = unknown), got minimum {lo:.3g}")
    return t


def check_mask(name: str, mask, num_frames: int, height: int, width: int) -> torch.Tensor:
    """Checks a boolean (or 0/1) mask of shape (T, 1, H, W); returns it as bool."""
    if not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(mask)
    check_shape(name, mask, (num_frames, 1, height, width))
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"{name}: expected a boolean mask (or values 0/1)")
        mask = mask.bool()
    return mask


def check_number(name: str, value, low: float | None = None, high: float | None = None,
                  strict: bool = True) -> float:
    """``value`` as a float when it is a finite real number (not a bool), optionally > ``low`` (>= with
    ``strict=False``) and < ``high``; else ``ValueError("<name>: expected a finite number ..., got ...")``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if ok and high is not None:
        ok = value < high
    if not ok:
        bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
        bound += "" if high is None else f"{' and' if bound else ''} < {high:g}"
        raise ValueError(f"{name}: expected a finite number{bound}, got {value!r}")
    return float(value)
