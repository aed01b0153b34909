"""Tuning the post-processing on validation predictions: per-type score thresholds and minimum areas, one
mask threshold and kept fraction.

Twin of `core/postprocess/tune.ts` (which tunes with the real runtime and has the final word): the same
shrinkage of a type with few images towards the pooled optimum.
"""

from __future__ import annotations

import itertools
from typing import Dict, List, Sequence

import numpy as np

from .data import AnnotatedImage
from .detections import RawPrediction
from .evaluate import ResolvedImage, resolve, thresholded_score


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
        resolved = [
            resolve(predictions[im.image_id], im, mask_threshold, min(score_grid), min_kept_fraction) for im in images
        ]
        # Grouped by the voted type, since that is what picks the thresholds at run time.
        by_type: Dict[str, List[ResolvedImage]] = {}
        for r in resolved:
            by_type.setdefault(classes[r.cell_class - 1], []).append(r)
        points = list(itertools.product(score_grid, area_grid))
        means = {
            t: np.array([np.mean([thresholded_score(r, s, a) for r in group]) for s, a in points])
            for t, group in by_type.items()
        }
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
