"""Validation: run a member on whole images, post-process as the runtime does, and score with the competition metric.

The post-processing mirrors `core/postprocess` in TypeScript (majority cell type, per-type score threshold,
box-frame masks pasted as torchvision pastes them, overlaps given to the higher score, then minimum area),
so thresholds tuned here mean the same thing at run time.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .data import AnnotatedImage, percentile_normalize, standardize

IOU_THRESHOLDS = np.arange(0.5, 0.96, 0.05)


@dataclass
class RawPrediction:
    boxes: np.ndarray  # [N, 4] in the original image's pixels
    scores: np.ndarray  # [N]
    labels: np.ndarray  # [N], 1-based
    masks: np.ndarray  # [N, M, M] probabilities in the box frame


def model_input(pixels: np.ndarray, input_cfg: dict) -> torch.Tensor:
    """uint8 [H, W] -> the padded, scaled, standardised [3, H', W'] tensor the ONNX member takes."""
    unit = torch.from_numpy(percentile_normalize(pixels, input_cfg))
    height, width = unit.shape
    scaled_size = (round(height * input_cfg["scale"]), round(width * input_cfg["scale"]))
    scaled = F.interpolate(unit[None, None], size=scaled_size, mode="bilinear", align_corners=False)[0, 0]
    divisor = input_cfg["size_divisor"]
    pad_h = (-scaled_size[0]) % divisor
    pad_w = (-scaled_size[1]) % divisor
    image = standardize(scaled, input_cfg)
    # Padding is zero after standardisation, as torchvision's batching pads.
    return F.pad(image, (0, pad_w, 0, pad_h))


@torch.no_grad()
def predict(member: torch.nn.Module, pixels: np.ndarray, input_cfg: dict, device=torch.device("cpu")) -> RawPrediction:
    boxes, scores, labels, masks = (t.cpu() for t in member(model_input(pixels, input_cfg).to(device)))
    height, width = pixels.shape
    boxes = boxes / input_cfg["scale"]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    return RawPrediction(boxes.numpy(), scores.numpy(), labels.numpy(), masks[:, 0].numpy())


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
    resized = F.interpolate(torch.from_numpy(padded)[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    cx0, cx1 = max(x0, 0), min(x1 + 1, width)
    cy0, cy1 = max(y0, 0), min(y1 + 1, height)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    crop = resized[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] > threshold
    return cy0, cx0, crop


@dataclass
class ResolvedImage:
    """Post-processed instances of one image with everything the metric needs per instance."""

    scores: np.ndarray
    areas: np.ndarray
    iou: np.ndarray  # [n_pred, n_truth]
    n_truth: int
    cell_class: int


def resolve(pred: RawPrediction, truth: AnnotatedImage, mask_threshold: float, min_score: float) -> ResolvedImage:
    height, width = truth.pixels.shape
    cell_class = majority_class(pred)
    order = [i for i in np.argsort(-pred.scores, kind="stable") if pred.labels[i] == cell_class and pred.scores[i] >= min_score]
    owner = np.full((height, width), -1, dtype=np.int32)
    kept_scores = []
    for i in order:
        pasted = paste_mask(pred.masks[i], pred.boxes[i], height, width, mask_threshold)
        if pasted is None:
            continue
        y0, x0, crop = pasted
        region = owner[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]]
        region[crop & (region < 0)] = len(kept_scores)
        kept_scores.append(pred.scores[i])
    n_pred = len(kept_scores)
    areas = np.bincount(owner[owner >= 0], minlength=n_pred)[:n_pred]
    iou = np.zeros((n_pred, len(truth.instances)))
    for j, inst in enumerate(truth.instances):
        h, w = inst.mask.shape
        owners = owner[inst.y0 : inst.y0 + h, inst.x0 : inst.x0 + w][inst.mask]
        inter = np.bincount(owners[owners >= 0], minlength=n_pred)[:n_pred]
        true_area = inst.mask.sum()
        iou[:, j] = inter / np.maximum(areas + true_area - inter, 1)
    return ResolvedImage(np.asarray(kept_scores), areas, iou, len(truth.instances), cell_class)


def image_score(resolved: ResolvedImage, score_threshold: float, min_area: int) -> float:
    """The competition's per-image score: mean over IoU thresholds of TP / (TP + FP + FN)."""
    keep = (resolved.scores >= score_threshold) & (resolved.areas >= min_area) & (resolved.areas > 0)
    iou = resolved.iou[keep]
    n_pred = int(keep.sum())
    if n_pred == 0 and resolved.n_truth == 0:
        return 1.0
    total = 0.0
    for t in IOU_THRESHOLDS:
        tp = int((iou > t).sum())  # IoU > 0.5 pairs are one-to-one
        total += tp / (n_pred + resolved.n_truth - tp)
    return total / len(IOU_THRESHOLDS)


def tune_thresholds(
    predictions: Dict[str, RawPrediction],
    images: Sequence[AnnotatedImage],
    classes: List[str],
    mask_thresholds: Sequence[float] = (0.4, 0.5, 0.6),
    score_grid: Sequence[float] = tuple(np.round(np.arange(0.1, 0.91, 0.05), 2)),
    area_grid: Sequence[int] = (0, 25, 50, 75, 100, 150, 200),
) -> dict:
    """Per-type score threshold and minimum area, and one mask threshold, maximising validation mAP."""
    best = None
    for mask_threshold in mask_thresholds:
        resolved = [resolve(predictions[im.image_id], im, mask_threshold, min(score_grid)) for im in images]
        # Grouped by the voted type, since that is what picks the thresholds at run time.
        by_type: Dict[str, List[ResolvedImage]] = {}
        for r in resolved:
            by_type.setdefault(classes[r.cell_class - 1], []).append(r)
        per_type = {}
        for cell_type, group in by_type.items():
            scored = [
                (np.mean([image_score(r, s, a) for r in group]), s, a)
                for s, a in itertools.product(score_grid, area_grid)
            ]
            per_type[cell_type] = max(scored)
        overall = sum(v[0] * len(by_type[k]) for k, v in per_type.items()) / len(images)
        if best is None or overall > best["map"]:
            best = {
                "map": float(overall),
                "mask_threshold": float(mask_threshold),
                "score_thresholds": {k: float(v[1]) for k, v in per_type.items()},
                "min_areas": {k: int(v[2]) for k, v in per_type.items()},
                "map_per_type": {k: float(v[0]) for k, v in per_type.items()},
            }
    for name in classes:  # a type absent from validation keeps a neutral setting
        best["score_thresholds"].setdefault(name, 0.5)
        best["min_areas"].setdefault(name, 50)
    return best


def score_with(predictions: Dict[str, RawPrediction], images: Sequence[AnnotatedImage], post: dict, classes: List[str]) -> dict:
    """Validation mAP (overall and per type) with fixed post-processing settings."""
    per_type: Dict[str, List[float]] = {}
    for im in images:
        resolved = resolve(predictions[im.image_id], im, post["mask_threshold"], 0.0)
        voted = classes[resolved.cell_class - 1] if 1 <= resolved.cell_class <= len(classes) else classes[0]
        score = image_score(resolved, post["score_thresholds"][voted], post["min_areas"][voted])
        per_type.setdefault(im.cell_type, []).append(score)
    all_scores = [s for v in per_type.values() for s in v]
    return {
        "map": float(np.mean(all_scores)) if all_scores else math.nan,
        "map_per_type": {k: float(np.mean(v)) for k, v in sorted(per_type.items())},
        "images": len(all_scores),
    }
