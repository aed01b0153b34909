"""Every training setting and its default lives here; YAML files under configs/ override them.

A YAML config may name `_BASE_: other.yaml` (relative to itself) and only lists what differs,
as detectron2's configs do.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]

DEFAULTS: Dict[str, Any] = {
    "data": {
        # Read in place: the data is never copied into the repository.
        "root": str(REPO_ROOT.parent / "shared" / "data" / "sartorius"),
        # "sartorius" (PNG + train.csv) or "packed" (what `cellseg_train.pack` writes for the GPU machine).
        "layout": "sartorius",
        # Committed, so that the TypeScript evaluation scores exactly the images training held out.
        "val_split_file": str(REPO_ROOT / "model-container" / "training" / "splits" / "val.txt"),
        "val_fraction": 0.2,
        "split_seed": 0,
        # Probability of drawing each cell type per training sample: shsy5y is rare here (24 images)
        # but hardest, so it is drawn more often than its share.
        "class_sampling": {"shsy5y": 0.3, "astro": 0.3, "cort": 0.4},
    },
    "classes": ["shsy5y", "astro", "cort"],
    "input": {
        # Cells are small (median ~205 px); upscaling gives the stride-4 features more pixels per cell.
        "scale": 1.5,
        "percentile_low": 0.5,
        "percentile_high": 99.5,
        "mean": 0.5,
        "std": 0.25,
        "size_divisor": 32,
    },
    "model": {
        "backbone": "resnet18",
        # 4: layer1-4 feed the FPN; 3: layer4 is dropped (see model.build_model).
        "trunk_stages": 4,
        "fpn_channels": 128,
        # GroupNorm: batch statistics from 2 crops are too noisy for BatchNorm when training from scratch.
        "group_norm_groups": 32,
        "anchor_sizes": [8, 16, 32, 64, 128],
        "aspect_ratios": [0.5, 1.0, 2.0],
        "rpn_pre_nms_top_n_train": 2000,
        "rpn_post_nms_top_n_train": 1000,
        "rpn_pre_nms_top_n_test": 2000,
        "rpn_post_nms_top_n_test": 1500,
        "rpn_batch_size_per_image": 256,
        # shsy5y images hold up to ~780 cells: the torchvision default of 100 would cap recall.
        "detections_per_img": 1000,
        "box_score_thresh": 0.1,
        "box_nms_thresh": 0.5,
        "box_batch_size_per_image": 512,
        "box_head_dim": 512,
        "mask_head_layers": [128, 128],
    },
    "train": {
        "crop": 384,
        "batch_size": 2,
        "scale_jitter": [0.8, 1.25],
        "brightness": 0.1,
        "contrast": [0.8, 1.2],
        "lr": 0.02,
        "momentum": 0.9,
        "weight_decay": 0.0001,
        "warmup_steps": 100,
        "grad_clip": 10.0,
        # Training stops at whichever comes first; the cosine schedule follows the larger fraction.
        "max_steps": 4000,
        "max_minutes": 90.0,
        "checkpoint_every": 25,
        "log_every": 10,
        "threads": 2,
        # Crop-making processes: 0 makes them in the training process (CPU); a GPU needs several to stay busy.
        "workers": 0,
        # bfloat16 autocast, CUDA only: about twice the throughput, and unlike float16 it needs no loss scaling.
        "autocast_bf16": True,
        "seed": 0,
    },
    "postprocess": {
        # Starting points from a detectron2 baseline (shsy5y, astro, cort); export tunes them on validation.
        "score_thresholds": {"shsy5y": 0.18, "astro": 0.38, "cort": 0.58},
        "min_areas": {"shsy5y": 75, "astro": 150, "cort": 75},
        "mask_threshold": 0.5,
        "nms_iou": 0.4,
    },
}


def _merge(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_keys(config: Dict[str, Any], reference: Dict[str, Any], path: str = "") -> None:
    for key, value in config.items():
        if key not in reference:
            raise KeyError(f"unknown config key {path}{key}")
        if isinstance(value, dict) and isinstance(reference[key], dict) and key not in ("class_sampling", "score_thresholds", "min_areas"):
            _check_keys(value, reference[key], f"{path}{key}.")


def load_config(path: str | Path | None) -> Dict[str, Any]:
    """Defaults, overridden by the YAML file at `path` and its `_BASE_` chain."""
    if path is None:
        return copy.deepcopy(DEFAULTS)
    path = Path(path)
    raw = yaml.safe_load(path.read_text()) or {}
    base_name = raw.pop("_BASE_", None)
    base = load_config(path.parent / base_name) if base_name else copy.deepcopy(DEFAULTS)
    _check_keys(raw, DEFAULTS)
    return _merge(base, raw)
