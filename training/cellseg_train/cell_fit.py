"""How well a config's anchors and training crops fit the annotated cells (the figures in the README).

    /usr/bin/python3 -m cellseg_train.cell_fit [--config configs/gpu.yaml] [--opts train.crop=768 ...]

Anchors: each cell's box at the input scale against every anchor shape of every level, each placed at the
grid point nearest the box's centre (as AnchorGenerator places them); reported per cell type, the share of
cells whose best anchor reaches IoU >= .7 (the RPN's positive threshold) and the share with none above .5.
Crops: random crops as training draws them (at the nominal scale); among the cells a crop touches, the
share cut by its border, and the share that keep less than half of their box.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Dict, List

import numpy as np

from .config import ConfigError, add_opts_argument, apply_overrides, load_config
from .data import AnnotatedImage, load_annotated
from .model import anchor_sizes_per_level

# The levels' strides for 3 trunk stages plus P6-P7, or 4 stages plus max-pool: both start at 4.
STRIDES = [4, 8, 16, 32, 64]


def cell_boxes(images: List[AnnotatedImage], scale: float) -> Dict[str, np.ndarray]:
    """[N, 4] boxes (x1, y1, x2, y2) per cell type, at the model's input scale."""
    boxes: Dict[str, list] = {}
    for im in images:
        for inst in im.instances:
            h, w = inst.mask.shape
            boxes.setdefault(im.cell_type, []).append([inst.x0, inst.y0, inst.x0 + w, inst.y0 + h])
    return {k: np.asarray(v, dtype=np.float64) * scale for k, v in sorted(boxes.items())}


def best_anchor_iou(boxes: np.ndarray, model_cfg: dict) -> np.ndarray:
    best = np.zeros(len(boxes))
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    for stride, sizes in zip(STRIDES, anchor_sizes_per_level(model_cfg["anchor_sizes"])):
        grid = np.round(centre / stride) * stride
        for size in sizes:
            for ratio in model_cfg["aspect_ratios"]:
                # torchvision: h / w = ratio, w * h = size^2, corners rounded
                half_w, half_h = np.round(size / np.sqrt(ratio) / 2), np.round(size * np.sqrt(ratio) / 2)
                anchor = np.concatenate([grid - [half_w, half_h], grid + [half_w, half_h]], axis=1)
                best = np.maximum(best, _iou(boxes, anchor))
    return best


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None).prod(1)
    area = lambda x: (x[:, 2:] - x[:, :2]).prod(1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def crop_cuts(images: List[AnnotatedImage], crop: int, scale: float, samples: int, seed: int) -> Dict[str, dict]:
    rng = random.Random(seed)
    counts: Dict[str, np.ndarray] = {}
    for _ in range(samples):
        im = rng.choice(images)
        height, width = im.pixels.shape
        window = min(int(round(crop / scale)), height, width)
        y0, x0 = rng.randint(0, height - window), rng.randint(0, width - window)
        touched = cut = half = 0
        for inst in im.instances:
            h, w = inst.mask.shape
            top, left = max(inst.y0, y0), max(inst.x0, x0)
            bottom, right = min(inst.y0 + h, y0 + window), min(inst.x0 + w, x0 + window)
            if bottom <= top or right <= left:
                continue
            touched += 1
            kept = (bottom - top) * (right - left) / (h * w)
            cut += kept < 1
            half += kept < 0.5
        counts[im.cell_type] = counts.get(im.cell_type, np.zeros(3)) + [touched, cut, half]
    return {
        k: {"cut": round(v[1] / v[0], 3), "less_than_half": round(v[2] / v[0], 3)} for k, v in sorted(counts.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None)
    add_opts_argument(parser)
    parser.add_argument("--samples", type=int, default=2000, help="random crops to draw")
    args = parser.parse_args()
    try:
        config = apply_overrides(load_config(args.config), args.opts)
    except ConfigError as error:
        sys.exit(f"cell_fit.py: {error}")
    images = load_annotated(config["data"]["root"], None, config["data"]["layout"])
    scale = config["input"]["scale"]
    anchors = {}
    for cell_type, boxes in cell_boxes(images, scale).items():
        best = best_anchor_iou(boxes, config["model"])
        sides = np.sqrt((boxes[:, 2:] - boxes[:, :2]).prod(1))
        anchors[cell_type] = {
            "cells": len(boxes),
            "median_side_px": round(float(np.median(sides)), 1),
            "iou_at_least_0.7": round(float((best >= 0.7).mean()), 3),
            "iou_below_0.5": round(float((best < 0.5).mean()), 3),
        }
    crop = config["train"]["crop"]
    report = {
        "anchors": {
            "sizes": config["model"]["anchor_sizes"],
            "ratios": config["model"]["aspect_ratios"],
            "per_type": anchors,
        },
        "crops": {"crop": crop, "per_type": crop_cuts(images, crop, scale, args.samples, seed=0)},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
