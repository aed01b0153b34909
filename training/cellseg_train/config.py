"""Every training setting and its default lives here; YAML files under configs/ override them.

A YAML config may name `_BASE_: other.yaml` (relative to itself) and only lists what differs,
as detectron2's configs do; `--opts train.lr=0.01 model.fpn_channels=96` overrides single keys after it.

The defaults describe member A (issue 10): anchors that fit the cells, the four-conv mask head, and the
ResNet-18 trunk without layer4. `configs/cpu.yaml` and `configs/gpu.yaml` only change how it is trained, so
the CPU stretches and the GPU rounds continue the same checkpoint.
"""
from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any, Dict, Sequence

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULTS: Dict[str, Any] = {
    "data": {
        # Read in place: the data is never copied into the repository.
        "root": str(REPO_ROOT.parent / "shared" / "data" / "sartorius"),
        # "sartorius" (PNG + train.csv) or "packed" (what `cellseg_train.pack` writes for the GPU machine).
        "layout": "sartorius",
        # Committed, so that the TypeScript evaluation scores exactly the images training held out.
        "val_split_file": str(REPO_ROOT / "training" / "splits" / "val.txt"),
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
        # 4: layer1-4 feed the FPN; 3: layer4 is dropped (see model.build_model): its 8.4 M weights are over
        # half of ResNet-18's, and add little for cells; the member's checkpoint and ONNX stay small.
        "trunk_stages": 3,
        "fpn_channels": 128,
        # GroupNorm: batch statistics from 2 crops are too noisy for BatchNorm when training from scratch.
        "group_norm_groups": 32,
        # One list of sizes per pyramid level (strides 4-64). Box sides at scale 1.5 are 25-66 px at the median
        # (astro p99 200 px) with aspect ratios up to 6: two sizes per level and ratios 1/3-3 give 57 % of the
        # cells an anchor at IoU >= .7 and leave almost none below .5 (training/README.md, "Member A").
        "anchor_sizes": [[12, 17], [24, 34], [48, 68], [96, 136], [192, 271]],
        "aspect_ratios": [0.333, 0.5, 1.0, 2.0, 3.0],
        # Inference proposals: the best 1000 anchors per pyramid level, 1000 kept after NMS. 2000 / 1500 cost
        # 1.1x the detector's time on a CPU for the same validation score within 0.001 (bench/README.md).
        "rpn_pre_nms_top_n_test": 1000,
        "rpn_post_nms_top_n_test": 1000,
        # shsy5y images hold up to ~780 cells: the torchvision default of 100 would cap recall.
        "detections_per_img": 1000,
        "box_score_thresh": 0.1,
        "box_nms_thresh": 0.5,
        "box_head_dim": 512,
        # The standard four-conv mask head: cort loses half its score between IoU .5 and .75 (mask quality).
        "mask_head_layers": [128, 128, 128, 128],
    },
    "train": {
        # Square crops at the input scale; large ones keep most cells whole (a 384-px crop cuts 54 % of the
        # astro cells it holds, 768 px 26 %).
        "crop": 512,
        # Proposals and sampled anchors/ROIs per training crop, sized for 512-px crops (up to ~400 cells);
        # configs with larger crops scale them with the crop's area. They shape training only, not the weights.
        "rpn_pre_nms_top_n": 2000,
        "rpn_post_nms_top_n": 1000,
        "rpn_batch_size_per_image": 256,
        "box_batch_size_per_image": 512,
        "batch_size": 2,
        "scale_jitter": [0.8, 1.25],
        "brightness": 0.1,
        "contrast": [0.8, 1.2],
        "lr": 0.02,
        "momentum": 0.9,
        "weight_decay": 0.0001,
        "warmup_steps": 100,
        # A resumed run warms up again over this many steps: the restored momentum belongs to a lower rate.
        "rewarmup_steps": 20,
        # Each run (a CPU stretch or a GPU round) decays the rate by a cosine from `lr` to `lr * lr_floor`
        # over its own budget, so every run starts and ends the same way (warm restarts).
        "lr_floor": 0.02,
        "grad_clip": 10.0,
        # This run stops at whichever comes first; restored steps and minutes do not count.
        "max_steps": 100000,
        "max_minutes": 140.0,
        # Checkpoints are written every this many steps and at least every `checkpoint_minutes`.
        "checkpoint_every": 200,
        "checkpoint_minutes": 10.0,
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
        # Box IoU above which two members' or flips' detections are one cell (fusion.fuse).
        "fusion_iou": 0.55,
        # A cell keeping less than this fraction of its pasted mask after overlap removal is dropped.
        "min_kept_fraction": 0.0,
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


class ConfigError(ValueError):
    """A config file or override that names a setting that does not exist, or gives one a value of the wrong kind."""


# Settings whose keys are free (cell-type names), not a fixed set.
FREE_FORM = ("class_sampling", "score_thresholds", "min_areas")


def _check_keys(config: Dict[str, Any], reference: Dict[str, Any], path: str = "") -> None:
    for key, value in config.items():
        if key not in reference:
            valid = ", ".join(f"{path}{k}" for k in reference)
            raise ConfigError(f"unknown config key {path}{key}; valid keys here: {valid}")
        if isinstance(reference[key], dict) != isinstance(value, dict):
            kind = "a section: name one of its keys" if isinstance(reference[key], dict) else "a single setting"
            raise ConfigError(f"config key {path}{key} is {kind}")
        if isinstance(value, dict) and key not in FREE_FORM:
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


def apply_overrides(config: Dict[str, Any], opts: Sequence[str]) -> Dict[str, Any]:
    """`section.key=value` pairs over a loaded config, later pairs winning (detectron2's `--opts`).

    Values are parsed as YAML (`train.lr=0.01`, `train.scale_jitter=[0.9,1.1]`, `train.autocast_bf16=false`),
    except that a setting whose default is text takes the text as written (`data.root=/data/2024` stays a
    path). Unknown keys, malformed pairs, and a number or flag given text are ConfigErrors.
    """
    overrides: Dict[str, Any] = {}
    for opt in opts:
        dotted, sep, text = opt.partition("=")
        if not sep or not dotted:
            raise ConfigError(f"--opts takes key=value pairs (e.g. train.lr=0.01), got {opt!r}")
        *parents, leaf = dotted.split(".")
        node, default = overrides, DEFAULTS
        for depth, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key {'.'.join(parents[: depth + 1])} is a single setting")
            default = default.get(part, {}) if isinstance(default, dict) else {}
        node[leaf] = _override_value(dotted, text, default.get(leaf) if isinstance(default, dict) else None)
        _check_keys(overrides, DEFAULTS)
    return _merge(config, overrides)


def _override_value(key: str, text: str, default: Any) -> Any:
    if isinstance(default, str):
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"--opts {key}: {text!r} is not a YAML value ({error.problem})") from None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"--opts {key} takes true or false, got {text!r}")
    elif isinstance(default, (int, float)) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        try:
            value = float(text)  # YAML 1.1 reads 1e-3 (no dot) as text
        except ValueError:
            raise ConfigError(f"--opts {key} takes a number, got {text!r}") from None
    return value


def add_opts_argument(parser: argparse.ArgumentParser) -> None:
    """The `--opts key=value ...` option; it may be given more than once, and later pairs win."""
    parser.add_argument(
        "--opts",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides, dotted keys as in config.py (e.g. train.lr=0.01 data.root=/data)",
    )


def checkpoint_config_here(config: Dict[str, Any]) -> Dict[str, Any]:
    """A checkpoint's config as this code uses it: this machine's data paths (the machine that trained it
    had its own), and today's post-processing keys (starting points only; they shape no weights)."""
    data = {**config["data"], **{k: DEFAULTS["data"][k] for k in ("root", "layout", "val_split_file")}}
    known = {k: v for k, v in config["postprocess"].items() if k in DEFAULTS["postprocess"]}
    return {**config, "data": data, "postprocess": {**DEFAULTS["postprocess"], **known}}
