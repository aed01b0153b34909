"""What a member (or a fusion of several) found in one image, in the original image's pixels: the Python
side of `Detections` in core/types.ts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RawPrediction:
    boxes: np.ndarray  # [N, 4] in the original image's pixels
    scores: np.ndarray  # [N]
    labels: np.ndarray  # [N], 1-based
    masks: np.ndarray  # [N, M, M] probabilities in the box frame
