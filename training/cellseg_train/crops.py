"""Augmented training crops: endless random crops of the training images with their cells' masks, for the
DataLoader."""

from __future__ import annotations

import random
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .binary_mask import InstanceMask
from .data import AnnotatedImage
from .normalize import percentile_normalize, standardize_unit


class TrainingCrops:
    """Endless random crops with the augmentation microscopy allows (no preferred orientation)."""

    def __init__(self, images: List[AnnotatedImage], config: dict, seed: int):
        self.images = images
        self.config = config
        self.rng = random.Random(seed)
        self.unit = {im.image_id: percentile_normalize(im.pixels, config["input"]) for im in images}
        by_type: Dict[str, List[AnnotatedImage]] = {}
        for im in images:
            by_type.setdefault(im.cell_type, []).append(im)
        self.by_type = by_type
        weights = config["data"]["class_sampling"]
        self.types = [t for t in by_type if weights.get(t, 0) > 0]
        self.type_weights = [weights[t] for t in self.types]
        self.class_ids = {name: i + 1 for i, name in enumerate(config["classes"])}

    def sample(self) -> Tuple[torch.Tensor, dict]:
        cell_type = self.rng.choices(self.types, self.type_weights)[0]
        image = self.rng.choice(self.by_type[cell_type])
        for _ in range(5):
            crop = self._crop(image)
            if len(crop[1]["boxes"]):
                break
        return crop

    def _crop(self, image: AnnotatedImage) -> Tuple[torch.Tensor, dict]:
        train, inp = self.config["train"], self.config["input"]
        size = train["crop"]
        scale = inp["scale"] * self.rng.uniform(*train["scale_jitter"])
        height, width = image.pixels.shape
        window = min(int(round(size / scale)), height, width)
        y0 = self.rng.randint(0, height - window)
        x0 = self.rng.randint(0, width - window)

        unit = torch.from_numpy(self.unit[image.image_id][y0 : y0 + window, x0 : x0 + window].copy())
        pixels = F.interpolate(unit[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0]
        cells = [c for c in (resized_cell(inst, y0, x0, window, size) for inst in image.instances) if len(c) >= 4]

        # Flips and 90-degree turns: cells have no preferred orientation. The masks' pixel indices move with
        # the image through the same permutation.
        turns, mirror = self.rng.randint(0, 3), self.rng.random() < 0.5
        pixels, moved_to = orient(pixels, turns, mirror), orient(
            torch.arange(size * size).view(size, size), turns, mirror
        )
        new_index = torch.empty(size * size, dtype=torch.int64)
        new_index[moved_to.flatten()] = torch.arange(size * size)
        cells = [new_index[torch.from_numpy(c)] for c in cells]

        contrast = self.rng.uniform(*train["contrast"])
        brightness = self.rng.uniform(-train["brightness"], train["brightness"])
        pixels = ((pixels - 0.5) * contrast + 0.5 + brightness).clamp(0.0, 1.0)
        target = {
            "boxes": boxes_from_pixel_indices(cells, size),
            "labels": torch.full((len(cells),), self.class_ids[image.cell_type], dtype=torch.int64),
            "mask_pixels": torch.cat([c + i * size * size for i, c in enumerate(cells)])
            if cells
            else torch.zeros(0, dtype=torch.int64),
        }
        return standardize_unit(pixels, inp)[None], target


def orient(square: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    turned = torch.rot90(square, turns, (0, 1))
    return turned.flip(1) if mirror else turned


def resized_cell(inst: InstanceMask, y0: int, x0: int, window: int, size: int) -> np.ndarray:
    """Flat indices (row * size + col) of the cell's pixels in a `window` crop at (y0, x0) resized to `size`.

    The same bilinear resampling (align_corners=False, mask >= 0.5) as resizing a full-window mask, but
    computed over the cell's own box only: a dense shsy5y crop holds ~500 cells, and full-size masks for
    each cost ~300 MB per crop to make and to move.
    """
    ratio = np.float32(window) / np.float32(size)
    h, w = inst.mask.shape
    top, left = inst.y0 - y0, inst.x0 - x0
    rows = _sampled_range(top, h, window, size, float(ratio))
    cols = _sampled_range(left, w, window, size, float(ratio))
    if len(rows) == 0 or len(cols) == 0:
        return np.zeros(0, dtype=np.int64)
    padded = np.pad(inst.mask.astype(np.float32), 1)  # zeros around the cell's box
    row_lo, row_hi, row_w = _bilinear_taps(rows, ratio, window, top, h)
    col_lo, col_hi, col_w = _bilinear_taps(cols, ratio, window, left, w)
    # In float32 and in torch's order (columns within a row, then rows), so that ties at 0.5 fall alike.
    along_cols = padded[:, col_lo] * (1 - col_w)[None] + padded[:, col_hi] * col_w[None]
    values = along_cols[row_lo] * (1 - row_w)[:, None] + along_cols[row_hi] * row_w[:, None]
    ys, xs = np.nonzero(values >= 0.5)
    return (rows[ys] * size + cols[xs]).astype(np.int64)


def _sampled_range(start: int, length: int, window: int, size: int, ratio: float) -> np.ndarray:
    """Output pixels whose two bilinear taps can touch source pixels start..start+length-1 of the window."""
    first = max(0, int(np.floor((max(start, 0) - 1 + 0.5) / ratio - 0.5)))
    last = min(size - 1, int(np.ceil((min(start + length, window) + 0.5) / ratio - 0.5)))
    return (
        np.arange(first, last + 1)
        if last >= first and start + length > 0 and start < window
        else np.zeros(0, dtype=np.int64)
    )


def _bilinear_taps(out: np.ndarray, ratio: np.float32, window: int, start: int, length: int):
    """(low tap, high tap, weight of the high tap) per output pixel, as torch's bilinear interpolation
    computes them (float32, source clamped at 0 and at the window's last pixel), the taps then indexing
    the padded cell mask: anything outside the cell's box reads its zero border."""
    source = np.maximum(ratio * (out.astype(np.float32) + np.float32(0.5)) - np.float32(0.5), np.float32(0))
    low = np.minimum(np.floor(source).astype(np.int64), window - 1)
    weight = np.clip(source - low.astype(np.float32), 0, 1).astype(np.float32)
    high = np.minimum(low + 1, window - 1)
    return np.clip(low - start + 1, 0, length + 1), np.clip(high - start + 1, 0, length + 1), weight


class CropStream(torch.utils.data.IterableDataset):
    """TrainingCrops for a DataLoader: each worker draws its own sequence, seeded by (seed, first step, worker)."""

    def __init__(self, crops: TrainingCrops, seed: int, first_step: int):
        self.crops = crops
        self.seed = seed
        self.first_step = first_step

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        if worker is not None:
            torch.set_num_threads(1)  # the workers already use every core between them
        self.crops.rng.seed(f"{self.seed}-{self.first_step}-{worker.id if worker else 0}")
        while True:
            yield self.crops.sample()


def boxes_from_pixel_indices(cells: List[torch.Tensor], size: int) -> torch.Tensor:
    """Per cell, the flat pixel indices in a size x size crop -> [N, 4] (x1, y1, x2, y2), x2/y2 exclusive."""
    if not cells:
        return torch.zeros((0, 4), dtype=torch.float32)
    boxes = [
        torch.stack([(c % size).min(), (c // size).min(), (c % size).max() + 1, (c // size).max() + 1]) for c in cells
    ]
    return torch.stack(boxes).float()


def dense_masks(mask_pixels: torch.Tensor, count: int, size: int) -> torch.Tensor:
    """The [N, size, size] uint8 masks a crop's `mask_pixels` describe, made where they are used (the GPU)."""
    masks = torch.zeros(count * size * size, dtype=torch.uint8, device=mask_pixels.device)
    masks[mask_pixels] = 1
    return masks.view(count, size, size)
