"""Validate a member's checkpoint in PyTorch: predict every held-out image, tune the post-processing on
them and record the scores (the Node runtime's `npm run validate-models -- --tune` is the final word; this
is the training package's own check, and what export.py records in the member's manifest entry).

    /usr/bin/python3 -m cellseg_train.validate --checkpoint checkpoints/member-a --out runs/member-a-metrics.json \
        [--opts data.root=/elsewhere/sartorius postprocess.mask_threshold=0.45]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from . import checkpoint
from .config import ConfigError, add_opts_argument, apply_overrides, checkpoint_config_here
from .data import load_annotated, load_or_create_split
from .evaluate import score_with, timed_predictions
from .tune import tune_thresholds
from .model import BoxFrameMaskRCNN, build_model


def load_member(folder: Path, device: torch.device) -> tuple[dict, BoxFrameMaskRCNN]:
    """(checkpoint index, the member in eval mode on `device`)."""
    index, state = checkpoint.load(folder)
    model = build_model(index["config"])
    model.load_state_dict(checkpoint.float32_weights(state))
    return index, BoxFrameMaskRCNN(model.to(device)).eval()


def validate(member: BoxFrameMaskRCNN, config: dict, val_ids, device) -> dict:
    images = load_annotated(config["data"]["root"], val_ids, config["data"]["layout"])
    seconds_per_image, predictions = timed_predictions(member, images, config["input"], device)
    untuned = score_with(predictions, images, config["postprocess"], config["classes"])
    tuned = tune_thresholds(predictions, images, config["classes"])
    post = {
        **config["postprocess"],
        **{k: tuned[k] for k in ("score_thresholds", "mask_threshold", "min_kept_fraction", "min_areas")},
    }
    return {
        "validation_images": len(images),
        "map_default_thresholds": untuned,
        "map_tuned": score_with(predictions, images, post, config["classes"]),
        "postprocess": post,
        "inference_seconds_per_image": round(seconds_per_image, 3),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True, help="metrics JSON to write")
    parser.add_argument("--val-limit", type=int, default=None, help="the first N held-out images only")
    add_opts_argument(parser)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    index, member = load_member(Path(args.checkpoint), device)
    trained = checkpoint_config_here(index["config"])
    try:
        config = apply_overrides(trained, args.opts)
    except ConfigError as error:
        sys.exit(f"validate.py: {error}")
    if any(config[key] != trained[key] for key in ("model", "input", "classes")):
        sys.exit("validate.py: --opts cannot change a trained member's model, input or classes")
    torch.set_num_threads(config["train"]["threads"])
    _, val_ids = load_or_create_split(config)
    val_ids = val_ids[: args.val_limit] if args.val_limit else val_ids
    metrics = {"step": index["step"], "minutes": index["minutes"], **validate(member, config, val_ids, device)}
    Path(args.out).write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2), flush=True)


if __name__ == "__main__":
    main()
