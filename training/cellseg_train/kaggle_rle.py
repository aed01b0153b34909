"""Kaggle's run-length encoding: space-separated `start length` pairs, `start` 1-indexed, pixels numbered
row-major over the image (shared/data/sartorius/README.md: row-major, whatever the competition text said).

Twin of `core/masks/kaggle-rle.ts`: the same canonical encoding, and the same malformed strings refused.
"""

from __future__ import annotations

import re

import numpy as np

from .binary_mask import InstanceMask

_DIGITS_AND_SPACE = re.compile(r"[\d\s]*")


class KaggleRleError(ValueError):
    """A Kaggle RLE string that does not describe a mask of the given image."""


def decode_kaggle_rle(annotation: str, height: int, width: int) -> InstanceMask:
    """A Kaggle RLE -> the tight mask it describes. Runs may come in any order and overlap, as in the
    hand-made ground truth; the empty (or blank) string is the empty mask.

    Raises KaggleRleError on an odd number of values, a value that is not a non-negative integer, a
    zero-length run, or a run outside the `height` x `width` image.
    """
    tokens = annotation.split()
    if len(tokens) % 2:
        raise KaggleRleError(f"Kaggle RLE has an odd number of values ({len(tokens)}): expected start length pairs")
    # One test of the whole string is much cheaper than one per token; the loop only finds the culprit.
    if not _DIGITS_AND_SPACE.fullmatch(annotation):
        bad = next(i for i, token in enumerate(tokens) if not token.isdigit())
        raise KaggleRleError(f'Kaggle RLE value {bad + 1} is "{tokens[bad]}", not a non-negative integer')
    if not tokens:
        return InstanceMask(0, 0, np.zeros((0, 0), dtype=bool))
    numbers = np.asarray(tokens, dtype=np.int64)
    starts, lengths = numbers[0::2] - 1, numbers[1::2]
    bad_runs = np.flatnonzero((lengths == 0) | (starts < 0) | (starts + lengths > height * width))
    if len(bad_runs):
        run = int(bad_runs[0])
        problem = (
            "has zero length"
            if lengths[run] == 0
            else f"lies outside the {width}x{height} image (pixels 1..{width * height})"
        )
        raise KaggleRleError(f"Kaggle RLE run {run + 1} (start {starts[run] + 1}, length {lengths[run]}) {problem}")
    flat = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)])
    ys, xs = flat // width, flat % width
    y0, x0 = int(ys.min()), int(xs.min())
    mask = np.zeros((int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1), dtype=bool)
    mask[ys - y0, xs - x0] = True
    return InstanceMask(y0, x0, mask)


def encode_kaggle_rle(mask: InstanceMask, height: int, width: int) -> str:
    """The canonical Kaggle RLE of a mask inside a `height` x `width` image: runs in pixel order, a run that
    continues across a row boundary kept whole, and the empty string for an empty mask."""
    image = np.zeros((height, width), dtype=bool)
    h, w = mask.mask.shape
    image[mask.y0 : mask.y0 + h, mask.x0 : mask.x0 + w] = mask.mask
    edges = np.flatnonzero(np.diff(np.concatenate([[0], image.ravel().view(np.int8), [0]])))
    starts, ends = edges[0::2], edges[1::2]
    return " ".join(f"{start + 1} {end - start}" for start, end in zip(starts, ends))
