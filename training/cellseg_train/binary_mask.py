"""One cell's mask kept tight: its bounding-box crop and where the crop sits in the image, so that 25k
annotated cells fit in a few MB.

Twin of `BinaryMask` in `core/masks/binary-mask.ts` (there `left`/`top`, here `x0`/`y0` in numpy's row-first
order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class InstanceMask:
    y0: int
    x0: int
    mask: np.ndarray  # bool [h, w]

    @property
    def area(self) -> int:
        return int(self.mask.sum())


def intersection_area(a: InstanceMask, b: InstanceMask) -> int:
    """Pixels both masks hold (`maskIntersectionArea` in core/masks/binary-mask.ts)."""
    top, left = max(a.y0, b.y0), max(a.x0, b.x0)
    bottom = min(a.y0 + a.mask.shape[0], b.y0 + b.mask.shape[0])
    right = min(a.x0 + a.mask.shape[1], b.x0 + b.mask.shape[1])
    if bottom <= top or right <= left:
        return 0
    in_a = a.mask[top - a.y0 : bottom - a.y0, left - a.x0 : right - a.x0]
    in_b = b.mask[top - b.y0 : bottom - b.y0, left - b.x0 : right - b.x0]
    return int((in_a & in_b).sum())
