"""A member's detections -> disjoint cell instances, as the runtime makes them.

Twin of `core/postprocess/instances.ts` (`voteCellType`, `selectCandidates`, `candidatesToInstances`; the
pasting is `pasteBoxMask` of core/masks/paste.ts): the majority cell type, its detections above a score,
box-frame masks pasted as torchvision pastes them, contested pixels given to the higher score. The minimum
area is left to the scoring (evaluate.thresholded_score), so that tuning tries every area without pasting
again; thresholds tuned on these instances mean the same thing at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .detections import RawPrediction


def majority_class(pred: RawPrediction) -> int:
    """Each image holds one cell type: the type with the largest total score wins."""
    if len(pred.scores) == 0:
        return 1
    totals = np.bincount(pred.labels, weights=pred.scores)
    return int(np.argmax(totals))


def paste_mask(prob: np.ndarray, box: np.ndarray, height: int, width: int, threshold: float):
    """torchvision's paste_masks_in_image (padding 1) for one mask; returns (y0, x0, bool crop) or None."""
    size = prob.shape[0]
    scale = (size + 2) / size
    padded = np.pad(prob, 1)
    half_w, half_h = (box[2] - box[0]) * 0.5 * scale, (box[3] - box[1]) * 0.5 * scale
    cx, cy = (box[2] + box[0]) * 0.5, (box[3] + box[1]) * 0.5
    x0, x1 = int(cx - half_w), int(cx + half_w)
    y0, y1 = int(cy - half_h), int(cy + half_h)
    w, h = max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)
    padded_tensor = torch.from_numpy(padded)[None, None]
    resized = F.interpolate(padded_tensor, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    cx0, cx1 = max(x0, 0), min(x1 + 1, width)
    cy0, cy1 = max(y0, 0), min(y1 + 1, height)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    crop = resized[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] > threshold
    return cy0, cx0, crop


@dataclass
class Instances:
    """Disjoint instances as a label map: `owner[y, x]` is the index of the instance holding the pixel, -1
    where none does; instance k scored `scores[k]`, instances by descending score."""

    owner: np.ndarray  # int32 [H, W]
    scores: np.ndarray  # [n]
    cell_class: int  # the voted type, 1-based


def resolve_instances(
    pred: RawPrediction,
    height: int,
    width: int,
    mask_threshold: float,
    min_score: float,
    min_kept_fraction: float = 0.0,
) -> Instances:
    """The voted type's detections scoring at least `min_score`, pasted by descending score; a cell that
    keeps less than `min_kept_fraction` of its mask (a duplicate or a fragment) takes nothing."""
    cell_class = majority_class(pred)
    order = [
        i
        for i in np.argsort(-pred.scores, kind="stable")
        if pred.labels[i] == cell_class and pred.scores[i] >= min_score
    ]
    owner = np.full((height, width), -1, dtype=np.int32)
    kept_scores = []
    for i in order:
        pasted = paste_mask(pred.masks[i], pred.boxes[i], height, width, mask_threshold)
        if pasted is None:
            continue
        y0, x0, crop = pasted
        region = owner[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]]
        free = crop & (region < 0)
        if not free.any() or free.sum() < min_kept_fraction * crop.sum():
            continue
        region[free] = len(kept_scores)
        kept_scores.append(pred.scores[i])
    return Instances(owner, np.asarray(kept_scores), cell_class)
