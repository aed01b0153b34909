"""Train one Mask R-CNN member for a step or wall-clock budget, resuming from its last checkpoint.

    /usr/bin/python3 -m cellseg_train.train --config configs/starter.yaml --out runs/starter

Runs unchanged on a CPU (Debian's torch 1.13) and on a GPU (torch 2.x). Writes `last.pt` (resumable),
`model.pt` (weights), `train-log.jsonl` and, after validation, `metrics.json` with tuned thresholds.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from .config import load_config
from .data import CropStream, TrainingCrops, load_annotated, load_or_create_split
from .evaluate import score_with, timed_predictions, tune_thresholds
from .model import BoxFrameMaskRCNN, build_model


def learning_rate(config: dict, step: int, progress: float) -> float:
    train = config["train"]
    warmup = min(1.0, (step + 1) / train["warmup_steps"])
    return train["lr"] * warmup * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="YAML overriding cellseg_train/config.py")
    parser.add_argument("--out", required=True, help="run folder (checkpoints, logs, metrics)")
    parser.add_argument("--max-minutes", type=float, default=None, help="override train.max_minutes")
    parser.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")
    parser.add_argument("--val-limit", type=int, default=None, help="validate on the first N held-out images only")
    parser.add_argument("--data-root", default=None, help="override data.root")
    parser.add_argument("--data-layout", default=None, choices=["sartorius", "packed"], help="override data.layout")
    args = parser.parse_args()

    config = load_config(args.config)
    if args.data_root is not None:
        config["data"]["root"] = args.data_root
    if args.data_layout is not None:
        config["data"]["layout"] = args.data_layout
    if args.max_minutes is not None:
        config["train"]["max_minutes"] = args.max_minutes
    if args.max_steps is not None:
        config["train"]["max_steps"] = args.max_steps
    train_cfg = config["train"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(train_cfg["threads"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = device.type == "cuda" and train_cfg["autocast_bf16"]
    torch.backends.cudnn.benchmark = True  # training crops all have one size
    random.seed(train_cfg["seed"])
    np.random.seed(train_cfg["seed"])
    torch.manual_seed(train_cfg["seed"])

    train_ids, val_ids = load_or_create_split(config)
    crops = TrainingCrops(load_annotated(config["data"]["root"], train_ids, config["data"]["layout"]), config, train_cfg["seed"])
    model = build_model(config).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=train_cfg["lr"], momentum=train_cfg["momentum"], weight_decay=train_cfg["weight_decay"])

    step, elapsed = 0, 0.0
    checkpoint = out / "last.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state["elapsed"]
        print(f"resumed from step {step} ({elapsed / 60:.1f} min)", flush=True)
    (out / "config.json").write_text(json.dumps(config, indent=2))

    loader = torch.utils.data.DataLoader(
        CropStream(crops, train_cfg["seed"], step),
        batch_size=train_cfg["batch_size"],
        collate_fn=list,
        num_workers=train_cfg["workers"],
        pin_memory=device.type == "cuda",
    )
    batches = iter(loader)
    budget = train_cfg["max_minutes"] * 60
    log = open(out / "train-log.jsonl", "a")
    model.train()
    started = time.time() - elapsed
    while step < train_cfg["max_steps"] and time.time() - started < budget:
        progress = max(step / train_cfg["max_steps"], (time.time() - started) / budget)
        lr = learning_rate(config, step, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = next(batches)
        images = [img.to(device, non_blocking=True) for img, _ in batch]
        targets = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for _, t in batch]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            losses = model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}: lower train.lr")
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, train_cfg["grad_clip"])
        optimizer.step()
        step += 1
        if step % train_cfg["log_every"] == 0:
            record = {"step": step, "minutes": round((time.time() - started) / 60, 2), "lr": round(lr, 5), "loss": round(loss.item(), 4)}
            record.update({k: round(v.item(), 4) for k, v in losses.items()})
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(json.dumps(record), flush=True)
        if step % train_cfg["checkpoint_every"] == 0:
            save_checkpoint(checkpoint, model, optimizer, step, time.time() - started)
    save_checkpoint(checkpoint, model, optimizer, step, time.time() - started)
    torch.save(model.state_dict(), out / "model.pt")
    print(f"trained {step} steps in {(time.time() - started) / 60:.1f} min", flush=True)

    model.eval()
    trained = {"steps": step, "minutes": round((time.time() - started) / 60, 1)}
    validate(model, config, val_ids[: args.val_limit] if args.val_limit else val_ids, out, device, trained)


def save_checkpoint(path: Path, model, optimizer, step: int, elapsed: float) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "elapsed": elapsed}, tmp)
    tmp.replace(path)  # a crash mid-save never leaves a broken checkpoint


def validate(model, config: dict, val_ids, out: Path, device, trained: dict) -> dict:
    """Predict every held-out image, tune the post-processing on them, and record the scores."""
    member = BoxFrameMaskRCNN(model).eval()
    images = load_annotated(config["data"]["root"], val_ids, config["data"]["layout"])
    seconds_per_image, predictions = timed_predictions(member, images, config["input"], device)
    untuned = score_with(predictions, images, config["postprocess"], config["classes"])
    tuned = tune_thresholds(predictions, images, config["classes"])
    post = {**config["postprocess"], **{k: tuned[k] for k in ("score_thresholds", "min_areas", "mask_threshold")}}
    final = score_with(predictions, images, post, config["classes"])
    metrics = {
        **trained,
        "validation_images": len(images),
        "map_default_thresholds": untuned,
        "map_tuned": final,
        "postprocess": post,
        "inference_seconds_per_image": round(seconds_per_image, 3),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2), flush=True)
    return metrics


if __name__ == "__main__":
    main()
