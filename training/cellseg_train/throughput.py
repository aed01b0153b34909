"""A member's inference throughput in PyTorch on this machine: images/s at 704x520 (the Sartorius size),
float32 and bfloat16 autocast, batch 1 and larger batches. On a GPU it is the closest figure to the
endpoint's speed that needs no deployment (the endpoint runs the ONNX export with onnxruntime's CUDA provider).

    python -m cellseg_train.throughput --checkpoint checkpoints/member-a --images packed/test --out throughput.json

The images of `--images` are cycled to fill a batch; each (precision, batch) is warmed up, then timed for
`--seconds`. The batch holds whole images, masks stay in their box frame (what the ONNX member returns).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from . import checkpoint
from .data import read_image
from .normalize import model_input
from .model import box_frame_detections, build_model


def measure(model, batch: torch.Tensor, bf16: bool, seconds: float, device: torch.device) -> dict:
    def once() -> int:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            found = box_frame_detections(model, batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return sum(len(d["scores"]) for d in found)

    for _ in range(2):
        once()
    runs, detections, started = 0, 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - started < seconds:
        detections += once()
        runs += 1
    elapsed = time.perf_counter() - started
    images = runs * batch.shape[0]
    return {
        "precision": "bfloat16" if bf16 else "float32",
        "batch": batch.shape[0],
        "images_per_second": round(images / elapsed, 2),
        "ms_per_image": round(1000 * elapsed / images, 2),
        "detections_per_image": round(detections / images, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--images", required=True, help="folder of 704x520 PNG/JPEG images")
    parser.add_argument("--out", required=True, help="JSON to write")
    parser.add_argument("--batches", default="1,2,4,8,16")
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per measurement")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    index, state = checkpoint.load(Path(args.checkpoint))
    config = index["config"]
    model = build_model(config)
    model.load_state_dict(checkpoint.float32_weights(state))
    model.to(device).eval()
    paths = sorted(p for p in Path(args.images).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    inputs = [model_input(read_image(p), config["input"]) for p in paths]
    if {tuple(t.shape) for t in inputs} != {tuple(inputs[0].shape)}:
        raise ValueError("the images must share one size")
    summary = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "checkpoint_step": index["step"],
        "image_size": list(read_image(paths[0]).shape[::-1]),
        "model_input": list(inputs[0].shape),
        "measurements": [],
        "best": {},
    }
    for bf16 in (device.type == "cuda" and [False, True]) or [False]:
        for size in map(int, args.batches.split(",")):
            batch = torch.stack([inputs[i % len(inputs)] for i in range(size)]).to(device)
            try:
                result = measure(model, batch, bf16, args.seconds, device)
            except torch.cuda.OutOfMemoryError:
                break
            print(json.dumps(result), flush=True)
            summary["measurements"].append(result)
            best = summary["best"].get(result["precision"])
            if best is None or result["images_per_second"] > best["images_per_second"]:
                summary["best"][result["precision"]] = result
            # Written after every measurement: a run stopped by its time limit keeps what it measured.
            Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
