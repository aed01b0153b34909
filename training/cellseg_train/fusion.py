"""Weighted box fusion of several members' or test-time flips' detections.

Twin of `fuseDetections` in `core/postprocess/fusion.ts`, step for step, so that the accurate profile's
fused scores mean the same thing in validation and at run time.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from .detections import RawPrediction


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
