"""The ranking rule of the revisit reports (``eval revisit``, ``eval compare``): which model is first.

A constant video is perfectly consistent with itself (a repeated frame scores the 100 dB cap of same-pose PSNR)
and so is any frame that is a fixed function of the camera, however blurred. The headline metric therefore
ranks only models that pass two gates, each a ratio to the ground truth on the same generated frames:

- **sharpness** >= :data:`MIN_SHARPNESS` (mean image-gradient magnitude over the truth's;
  :func:`eval.protocols.sharpness_ratio`): consistency bought with blur or flat fill is not ranked;
- **motion** >= :data:`MIN_MOTION` (:func:`motion_ratio`: mean absolute change between consecutive generated
  frames over the truth's): a video that does not change when the camera moves is not ranked.

Rows that pass are ranked by the protocol's :data:`RANK_KEYS` metric (largest first); the others are shown below
them, unranked, with the gate they failed. Return-vs-truth PSNR, sharpness and motion are shown beside the
headline metric in every table.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["MIN_SHARPNESS", "MIN_MOTION", "RANK_KEYS", "DEFAULT_RANK_KEY", "motion_ratio", "rank_key", "gate",
           "rank"]

MIN_SHARPNESS = 0.5
MIN_MOTION = 0.5
RANK_KEYS = {"recall": "same_pose_psnr", "cycle": "same_pose_psnr", "given-half": "revisit_psnr",
             "offset": "offset_psnr", "dynamic": "static_same_pose_psnr"}
"""The metric each protocol ranks by; any other protocol ranks by :data:`DEFAULT_RANK_KEY`."""
DEFAULT_RANK_KEY = "psnr"


def motion_ratio(frames: torch.Tensor, target: torch.Tensor, start: int) -> float | None:
    """Mean absolute change between consecutive frames ``t - 1, t`` for ``t > start`` of ``frames`` over that of
    ``target`` (both (T, 3, H, W)); None when the truth does not change or there is no such pair."""
    if len(frames) - start < 2:
        return None
    def change(x: torch.Tensor) -> float:
        x = x[start:].double()
        return float((x[1:] - x[:-1]).abs().mean())
    ref = change(target)
    return change(frames) / ref if ref > 0 else None


def rank_key(protocol: str) -> str:
    """The metric ``protocol`` ranks by."""
    return RANK_KEYS.get(protocol, DEFAULT_RANK_KEY)


def gate(row: Mapping) -> str | None:
    """Why a row (metric name -> value) is not ranked, or None when it passes both gates."""
    sharp, motion = row.get("sharpness"), row.get("motion")
    if sharp is None or sharp < MIN_SHARPNESS:
        return f"sharpness {'n/a' if sharp is None else f'{sharp:.3f}'} < {MIN_SHARPNESS}"
    if motion is None or motion < MIN_MOTION:
        return f"motion {'n/a' if motion is None else f'{motion:.3f}'} < {MIN_MOTION}"
    return None


def rank(rows: Mapping[str, Mapping], protocol: str) -> list[tuple[str, int | None, str | None]]:
    """``(name, rank or None, why unranked or None)`` for every row, ranked rows first (1 = best by
    :func:`rank_key`; a missing metric is unranked), then the unranked in their given order."""
    key = rank_key(protocol)
    ranked, unranked = [], []
    for name, row in rows.items():
        why = gate(row)
        if why is None and row.get(key) is None:
            why = f"{key} n/a"
        (unranked if why else ranked).append((name, why))
    ranked.sort(key=lambda item: -float(rows[item[0]][key]))
    return [(name, k + 1, None) for k, (name, _) in enumerate(ranked)] + [(name, None, why) for name, why in unranked]
