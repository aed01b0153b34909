"""The competition metric (shared/data/sartorius/README.md): per image, the mean over IoU thresholds
0.50, 0.55, ..., 0.95 of TP / (TP + FP + FN), a prediction matching a truth when their IoU is strictly
above the threshold.

Twin of `core/metric/competition.ts`, decided the same way (in integers, greedy one-to-one matching), so
that both score the same masks alike (test/fixtures/competition-metric.json holds the cases both check).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

from .binary_mask import InstanceMask, intersection_area

# Thresholds in twentieths, so that "IoU > t" is decided in integers: 20 * intersection > k * union.
THRESHOLD_TWENTIETHS = tuple(range(10, 20))
# Each the float nearest its decimal (not 0.5 + 0.05 * i, which drifts to 0.6000000000000001).
IOU_THRESHOLDS = tuple(5 * k / 100 for k in THRESHOLD_TWENTIETHS)


def score_from_overlaps(intersections: np.ndarray, pred_areas: np.ndarray, truth_areas: np.ndarray) -> float:
    """One image's score from its pixel counts: `intersections[i, j]` shared by prediction i and truth j,
    every area above zero. No predictions and no truth score 1.

    Predictions and truths are matched one to one, greedily by IoU descending (ties by prediction, then
    truth index): overlapping truths cannot both match one prediction.
    """
    n_pred, n_truth = len(pred_areas), len(truth_areas)
    if n_pred == 0 and n_truth == 0:
        return 1.0
    intersections = np.asarray(intersections, dtype=np.int64).reshape(n_pred, n_truth)
    unions = np.asarray(pred_areas, dtype=np.int64)[:, None] + np.asarray(truth_areas, dtype=np.int64)[None, :]
    unions = unions - intersections
    preds, truths = np.nonzero(2 * intersections > unions)
    inter, union = intersections[preds, truths], unions[preds, truths]
    if len(np.unique(preds)) < len(preds) or len(np.unique(truths)) < len(truths):
        # A mask above IoU 0.5 with two others (possible only where masks overlap): match greedily.
        order = sorted(range(len(preds)), key=lambda k: (-Fraction(int(inter[k]), int(union[k])), preds[k], truths[k]))
        matched_preds, matched_truths, accepted = set(), set(), []
        for k in order:
            if preds[k] in matched_preds or truths[k] in matched_truths:
                continue
            matched_preds.add(preds[k])
            matched_truths.add(truths[k])
            accepted.append(k)
        inter, union = inter[accepted], union[accepted]
    true_positives = [int((20 * inter > k * union).sum()) for k in THRESHOLD_TWENTIETHS]
    precisions = [tp / (n_pred + n_truth - tp) for tp in true_positives]
    return sum(precisions) / len(precisions)


def image_score(pred: Sequence[InstanceMask], truth: Sequence[InstanceMask]) -> float:
    """One image's score from its predicted and true masks (`imageScore`). Masks with no pixels are not
    instances and are ignored on both sides."""
    preds = [m for m in pred if m.area > 0]
    truths = [m for m in truth if m.area > 0]
    intersections = np.array([[intersection_area(p, t) for t in truths] for p in preds], dtype=np.int64)
    return score_from_overlaps(intersections, np.array([m.area for m in preds]), np.array([m.area for m in truths]))
