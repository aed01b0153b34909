"""Validation: run a member on whole images, post-process as the runtime does, and score with the competition metric.

The post-processing mirrors `core/postprocess` in TypeScript (majority cell type, per-type score threshold,
box-frame masks pasted as torchvision pastes them, overlaps given to the higher score, then minimum area),
so thresholds tuned here mean the same thing at run time.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

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


# Test-time flips, named as the manifest's `tta` names them: (horizontal, vertical).
FLIPS = {"none": (False, False), "horizontal": (True, False), "vertical": (False, True), "both": (True, True)}


@torch.no_grad()
def predict(
    member: torch.nn.Module, pixels: np.ndarray, input_cfg: dict, device=torch.device("cpu"), flip: str = "none"
) -> RawPrediction:
    """One member on one whole image, boxes and box-frame masks mapped back to the image's pixels.

    A flip mirrors only the scaled image, not its padding, and is undone on the outputs, as the runtime's
    `flipModelInput` and `toImageFrame` do (core/segmentation/segmenter.ts).
    """
    horizontal, vertical = FLIPS[flip]
    height, width = pixels.shape
    image = model_input(pixels, input_cfg)
    scaled_h, scaled_w = round(height * input_cfg["scale"]), round(width * input_cfg["scale"])
    dims = [d for d, on in ((2, horizontal), (1, vertical)) if on]
    if dims:
        image[:, :scaled_h, :scaled_w] = image[:, :scaled_h, :scaled_w].flip(dims)
    boxes, scores, labels, masks = (t.cpu() for t in member(image.to(device)))
    boxes, masks = boxes.clone(), masks[:, 0]
    if horizontal:
        boxes[:, [0, 2]] = scaled_w - boxes[:, [2, 0]]
        masks = masks.flip(2)
    if vertical:
        boxes[:, [1, 3]] = scaled_h - boxes[:, [3, 1]]
        masks = masks.flip(1)
    boxes = boxes / input_cfg["scale"]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    return RawPrediction(boxes.numpy(), scores.numpy(), labels.numpy(), masks.numpy())


def timed_predictions(
    member: torch.nn.Module, images: Sequence[AnnotatedImage], input_cfg: dict, device, flip: str = "none"
) -> Tuple[float, Dict[str, RawPrediction]]:
    """(seconds per image, predictions by id); reading the outputs back waits for the GPU, so the time is real."""
    started = time.time()
    predictions = {im.image_id: predict(member, im.pixels, input_cfg, device, flip) for im in images}
    return (time.time() - started) / max(len(images), 1), predictions


def fuse(sources: Sequence[Tuple[RawPrediction, float]], iou_threshold: float) -> RawPrediction:
    """The runtime's weighted box fusion (`fuseDetections` in core/postprocess/fusion.ts), step for step.

    Detections in falling weighted score join the same-class cluster whose fused box overlaps theirs most
    (IoU above the threshold); boxes and masks are score-weighted means, the score the mean over sources.
    """
    if len(sources) == 1:
        return sources[0][0]
    total_weight = sum(weight for _, weight in sources)
    boxes = np.concatenate([p.boxes for p, _ in sources]).astype(np.float64)
    labels = np.concatenate([p.labels for p, _ in sources])
    masks = np.concatenate([p.masks for p, _ in sources])
    weighted = np.concatenate([p.scores.astype(np.float64) * w for p, w in sources])
    n_max = len(weighted)
    fused_box, box_sum = np.zeros((n_max, 4)), np.zeros((n_max, 4))
    weight_sum, cluster_label = np.zeros(n_max), np.full(n_max, -1)
    mask_sum = np.zeros((n_max,) + masks.shape[1:])
    n = 0
    for i in np.argsort(-weighted, kind="stable"):
        box = boxes[i]
        width = np.minimum(fused_box[:n, 2], box[2]) - np.maximum(fused_box[:n, 0], box[0])
        height = np.minimum(fused_box[:n, 3], box[3]) - np.maximum(fused_box[:n, 1], box[1])
        inter = np.where((width > 0) & (height > 0), width * height, 0.0)
        areas = (fused_box[:n, 2] - fused_box[:n, 0]) * (fused_box[:n, 3] - fused_box[:n, 1])
        union = areas + (box[2] - box[0]) * (box[3] - box[1]) - inter
        iou = np.where((cluster_label[:n] == labels[i]) & (union > 0), inter / np.where(union > 0, union, 1), 0.0)
        best = int(np.argmax(iou)) if n else -1
        if best < 0 or iou[best] <= iou_threshold:
            best, n = n, n + 1
            fused_box[best], cluster_label[best] = box, labels[i]
        weight_sum[best] += weighted[i]
        box_sum[best] += box * weighted[i]
        fused_box[best] = box_sum[best] / weight_sum[best]
        mask_sum[best] += masks[i] * weighted[i]
    return RawPrediction(
        fused_box[:n].astype(np.float32),
        (weight_sum[:n] / total_weight).astype(np.float32),
        cluster_label[:n],
        (mask_sum[:n] / weight_sum[:n, None, None]).astype(np.float32),
    )


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


def resolve(pred: RawPrediction, truth: AnnotatedImage, mask_threshold: float, min_score: float, min_kept_fraction: float = 0.0) -> ResolvedImage:
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
        free = crop & (region < 0)
        if not free.any() or free.sum() < min_kept_fraction * crop.sum():
            continue  # a duplicate or fragment of a cell already kept: it takes nothing
        region[free] = len(kept_scores)
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
    min_kept_fractions: Sequence[float] = (0.0, 0.5, 0.7),
    score_grid: Sequence[float] = tuple(np.round(np.arange(0.1, 0.91, 0.05), 2)),
    area_grid: Sequence[int] = (0, 25, 50, 75, 100, 150, 200),
    pooled_weight: float = 10,
) -> dict:
    """Per-type score threshold and minimum area, one mask threshold and kept fraction, maximising validation mAP."""
    best = None
    for mask_threshold, min_kept_fraction in itertools.product(mask_thresholds, min_kept_fractions):
        resolved = [resolve(predictions[im.image_id], im, mask_threshold, min(score_grid), min_kept_fraction) for im in images]
        # Grouped by the voted type, since that is what picks the thresholds at run time.
        by_type: Dict[str, List[ResolvedImage]] = {}
        for r in resolved:
            by_type.setdefault(classes[r.cell_class - 1], []).append(r)
        points = list(itertools.product(score_grid, area_grid))
        means = {t: np.array([np.mean([image_score(r, s, a) for r in group]) for s, a in points]) for t, group in by_type.items()}
        pooled = sum(means[t] * len(group) for t, group in by_type.items()) / len(images)
        per_type = {}
        for cell_type, group in by_type.items():
            # Shrunk towards the pooled optimum: the split holds 5 shsy5y images (core/postprocess/tune.ts).
            n = len(group)
            chosen = int(np.argmax((n * means[cell_type] + pooled_weight * pooled) / (n + pooled_weight)))
            per_type[cell_type] = (float(means[cell_type][chosen]), *points[chosen])
        overall = sum(v[0] * len(by_type[k]) for k, v in per_type.items()) / len(images)
        if best is None or overall > best["map"]:
            best = {
                "map": float(overall),
                "mask_threshold": float(mask_threshold),
                "min_kept_fraction": float(min_kept_fraction),
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
        resolved = resolve(predictions[im.image_id], im, post["mask_threshold"], 0.0, post["min_kept_fraction"])
        voted = classes[resolved.cell_class - 1] if 1 <= resolved.cell_class <= len(classes) else classes[0]
        score = image_score(resolved, post["score_thresholds"][voted], post["min_areas"][voted])
        per_type.setdefault(im.cell_type, []).append(score)
    all_scores = [s for v in per_type.values() for s in v]
    return {
        "map": float(np.mean(all_scores)) if all_scores else math.nan,
        "map_per_type": {k: float(np.mean(v)) for k, v in sorted(per_type.items())},
        "images": len(all_scores),
    }
