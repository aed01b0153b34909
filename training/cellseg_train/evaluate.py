"""Validation: run a member on whole images, post-process as the runtime does (instances.py), and score the
instances against the truth with the competition metric (competition_metric.py)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from .competition_metric import score_from_overlaps
from .data import AnnotatedImage
from .detections import RawPrediction
from .instances import resolve_instances
from .normalize import model_input

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


@dataclass
class ResolvedImage:
    """Post-processed instances of one image with everything the metric needs per instance."""

    scores: np.ndarray
    areas: np.ndarray
    intersections: np.ndarray  # [n_pred, n_truth] pixels shared
    truth_areas: np.ndarray  # [n_truth]
    cell_class: int


def resolve(
    pred: RawPrediction,
    truth: AnnotatedImage,
    mask_threshold: float,
    min_score: float,
    min_kept_fraction: float = 0.0,
) -> ResolvedImage:
    height, width = truth.pixels.shape
    instances = resolve_instances(pred, height, width, mask_threshold, min_score, min_kept_fraction)
    owner, n_pred = instances.owner, len(instances.scores)
    areas = np.bincount(owner[owner >= 0], minlength=n_pred)[:n_pred]
    intersections = np.zeros((n_pred, len(truth.instances)), dtype=np.int64)
    for j, inst in enumerate(truth.instances):
        h, w = inst.mask.shape
        owners = owner[inst.y0 : inst.y0 + h, inst.x0 : inst.x0 + w][inst.mask]
        intersections[:, j] = np.bincount(owners[owners >= 0], minlength=n_pred)[:n_pred]
    truth_areas = np.array([inst.area for inst in truth.instances], dtype=np.int64)
    return ResolvedImage(instances.scores, areas, intersections, truth_areas, instances.cell_class)


def thresholded_score(resolved: ResolvedImage, score_threshold: float, min_area: int) -> float:
    """The competition's score of the image's instances that pass the type's score threshold and minimum area."""
    keep = (resolved.scores >= score_threshold) & (resolved.areas >= min_area) & (resolved.areas > 0)
    return score_from_overlaps(resolved.intersections[keep], resolved.areas[keep], resolved.truth_areas)


def score_with(
    predictions: Dict[str, RawPrediction], images: Sequence[AnnotatedImage], post: dict, classes: List[str]
) -> dict:
    """Validation mAP (overall and per type) with fixed post-processing settings."""
    per_type: Dict[str, List[float]] = {}
    for im in images:
        resolved = resolve(predictions[im.image_id], im, post["mask_threshold"], 0.0, post["min_kept_fraction"])
        voted = classes[resolved.cell_class - 1] if 1 <= resolved.cell_class <= len(classes) else classes[0]
        score = thresholded_score(resolved, post["score_thresholds"][voted], post["min_areas"][voted])
        per_type.setdefault(im.cell_type, []).append(score)
    all_scores = [s for v in per_type.values() for s in v]
    return {
        "map": float(np.mean(all_scores)) if all_scores else math.nan,
        "map_per_type": {k: float(np.mean(v)) for k, v in sorted(per_type.items())},
        "images": len(all_scores),
    }
