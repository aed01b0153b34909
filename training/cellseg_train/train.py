"""Train one Mask R-CNN member for a wall-clock or step budget, continuing its checkpoint when there is one.

    /usr/bin/python3 -m cellseg_train.train --config configs/cpu.yaml --checkpoint runs/member-a \
        --opts train.max_minutes=140

Runs unchanged on a CPU (Debian's torch 1.13) and on a GPU (torch 2.x, bfloat16 autocast). The budget is this
run's own: a resumed run trains for its whole `train.max_minutes` again. Each run warms up, then decays the rate
by a cosine over its budget (a warm restart), so a run that stops on time leaves its best weights. The
checkpoint folder (see checkpoint.py) is rewritten every `checkpoint_every` steps or `checkpoint_minutes`,
and at the end; its `train-log.jsonl` records the losses of every run. Validation is a separate step
(`cellseg_train.validate`): a GPU round spends its minutes on training alone.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from . import checkpoint
from .config import ConfigError, add_opts_argument, apply_overrides, load_config
from .crops import CropStream, TrainingCrops, dense_masks
from .data import load_annotated, load_or_create_split
from .model import build_model

MEMBER_NAME = "member"


def learning_rate(train_cfg: dict, run_step: int, warmup_steps: int, progress: float) -> float:
    """Linear warmup over this run's first steps, then a cosine from `lr` to `lr * lr_floor` at progress 1."""
    warmup = min(1.0, (run_step + 1) / max(warmup_steps, 1))
    floor = train_cfg["lr_floor"]
    cosine = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return train_cfg["lr"] * warmup * cosine


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None, help="YAML overriding cellseg_train/config.py (a fresh start only)")
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint folder: continued when it holds one, rewritten as training goes"
    )
    add_opts_argument(parser)
    return parser.parse_args()


def run_config(config_file: str | None, opts: list[str], restored: dict | None) -> dict:
    """A resumed member keeps its architecture (the checkpoint's config); the train and data settings are
    this run's: the YAML's when given, with --opts on top."""
    config = load_config(config_file)
    if restored is not None:
        kept = {key: restored["config"][key] for key in ("model", "input", "classes")}
        config = {**config, **kept}
    config = apply_overrides(config, opts)
    if restored is not None and config["model"] != restored["config"]["model"]:
        raise ConfigError("--opts cannot change the architecture of a member that is being continued")
    return config


def train_step(model, optimizer, params, batch: list, device: torch.device, train_cfg: dict, amp: bool) -> tuple:
    """One optimiser step on a batch of crops (crops.CropStream's); returns (loss, the losses by name).
    Raises FloatingPointError on a non-finite loss, before the weights take it."""
    size = train_cfg["crop"]
    images = [img.to(device, non_blocking=True).expand(3, -1, -1) for img, _ in batch]
    targets = [
        {
            "boxes": t["boxes"].to(device, non_blocking=True),
            "labels": t["labels"].to(device, non_blocking=True),
            "masks": dense_masks(t["mask_pixels"].to(device, non_blocking=True), len(t["labels"]), size),
        }
        for _, t in batch
    ]
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        losses = model(images, targets)
    loss = sum(losses.values())
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {loss.item()}")
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, train_cfg["grad_clip"])
    optimizer.step()
    return loss, losses


def main() -> None:
    args = parse_args()
    folder = Path(args.checkpoint)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    restored, state = checkpoint.load(folder, device) if checkpoint.exists(folder) else (None, None)
    try:
        config = run_config(args.config, args.opts, restored)
    except ConfigError as error:
        sys.exit(f"train.py: {error}")
    train_cfg = config["train"]
    torch.set_num_threads(train_cfg["threads"])
    amp = device.type == "cuda" and train_cfg["autocast_bf16"]
    torch.backends.cudnn.benchmark = True  # training crops all have one size
    first_step = restored["step"] if restored else 0
    seed = train_cfg["seed"] + first_step  # a resumed run draws new crops, not the first run's again
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    train_ids, _ = load_or_create_split(config)
    started_loading = time.time()
    crops = TrainingCrops(load_annotated(config["data"]["root"], train_ids, config["data"]["layout"]), config, seed)
    print(
        f"{len(crops.images)} training images loaded in {time.time() - started_loading:.0f} s on {device}", flush=True
    )
    model = build_model(config).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params, lr=train_cfg["lr"], momentum=train_cfg["momentum"], weight_decay=train_cfg["weight_decay"]
    )
    if state is not None:
        model.load_state_dict(checkpoint.float32_weights(state))
        if "optimizer" in state:
            optimizer.load_state_dict(state["optimizer"])
        print(
            f"resumed from step {first_step} ({restored['minutes']:.1f} min in {len(restored['runs'])} runs)",
            flush=True,
        )
    warmup_steps = train_cfg["rewarmup_steps"] if restored else train_cfg["warmup_steps"]

    loader = torch.utils.data.DataLoader(
        CropStream(crops, seed, first_step),
        batch_size=train_cfg["batch_size"],
        collate_fn=list,
        num_workers=train_cfg["workers"],
        pin_memory=device.type == "cuda",
        persistent_workers=train_cfg["workers"] > 0,
    )
    batches = iter(loader)
    budget_s, max_steps = train_cfg["max_minutes"] * 60, train_cfg["max_steps"]
    folder.mkdir(parents=True, exist_ok=True)
    log = open(folder / "train-log.jsonl", "a")  # travels with the checkpoint: the whole history
    history = {
        "step": first_step,
        "minutes": restored["minutes"] if restored else 0.0,
        "runs": list(restored["runs"]) if restored else [],
    }
    this_run = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "first_step": first_step,
        "crop": train_cfg["crop"],
        "batch_size": train_cfg["batch_size"],
        "lr": train_cfg["lr"],
    }

    def save(run_step: int, elapsed: float) -> None:
        record = {**this_run, "steps": run_step, "minutes": round(elapsed / 60, 2)}
        progress = {
            "step": first_step + run_step,
            "minutes": round(history["minutes"] + elapsed / 60, 2),
            "runs": history["runs"] + [record],
        }
        checkpoint.save(folder, MEMBER_NAME, config, model, optimizer, progress)

    model.train()
    started = last_saved = time.time()
    run_step = 0
    data_wait = 0.0  # seconds spent waiting for crops: whether the crop workers or the model set the pace
    while run_step < max_steps and time.time() - started < budget_s:
        progress = max(run_step / max_steps, (time.time() - started) / budget_s)
        lr = learning_rate(train_cfg, run_step, warmup_steps, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr
        waited = time.time()
        batch = next(batches)
        data_wait += time.time() - waited
        try:
            loss, losses = train_step(model, optimizer, params, batch, device, train_cfg, amp)
        except FloatingPointError as error:
            raise FloatingPointError(f"{error} at step {first_step + run_step}: lower train.lr") from None
        run_step += 1
        if run_step % train_cfg["log_every"] == 0:
            record = {
                "step": first_step + run_step,
                "minutes": round((time.time() - started) / 60, 2),
                "lr": round(lr, 5),
                "loss": round(loss.item(), 4),
                **{k: round(v.item(), 4) for k, v in losses.items()},
                "data_wait": round(data_wait / (time.time() - started), 3),
            }
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(json.dumps(record), flush=True)
        if (
            run_step % train_cfg["checkpoint_every"] == 0
            or time.time() - last_saved > train_cfg["checkpoint_minutes"] * 60
        ):
            save(run_step, time.time() - started)
            last_saved = time.time()
    elapsed = time.time() - started
    save(run_step, elapsed)
    print(f"trained {run_step} steps in {elapsed / 60:.1f} min: step {first_step + run_step} in all", flush=True)


if __name__ == "__main__":
    try:
        main()
    except FloatingPointError as error:
        print(error, flush=True)
        sys.exit(3)  # gpu_run.sh retries at a lower rate
