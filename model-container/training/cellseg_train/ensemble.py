"""The GPU run's last step: export every trained member, score the fused ensemble, write the manifest.

    python -m cellseg_train.ensemble --runs runs/gpu-a runs/gpu-b --models OUT/models \
        --parity-image packed/test/7ae19de7bc2a.png --metrics OUT/metrics.json --version gpu-ensemble

A run without `model.pt` and `metrics.json` (its training failed or ran out of time) is left out, and so is
one whose export fails: whatever members remain are written. `fast` is the best single member with its own
tuned thresholds; `accurate` is every member under flips, fused as the runtime fuses them (evaluate.fuse),
with thresholds tuned on the fused validation predictions. metrics.json collects per-member and ensemble
validation mAP, training time, hardware and inference seconds per image on this machine.
"""
from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

import torch

from .data import load_annotated
from .evaluate import fuse, score_with, timed_predictions, tune_thresholds
from .export import TTA_ACCURATE, build_manifest, export_member, manifest_postprocess, validation_record
from .model import BoxFrameMaskRCNN, build_model


def load_member(run: Path, device: torch.device) -> BoxFrameMaskRCNN:
    model = build_model(json.loads((run / "config.json").read_text()))
    model.load_state_dict(torch.load(run / "model.pt", map_location="cpu"))
    return BoxFrameMaskRCNN(model.to(device)).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, help="training run folders; the folder name is the member name")
    parser.add_argument("--models", required=True, help="output model directory (ONNX, parity/, manifest.json)")
    parser.add_argument("--parity-image", required=True)
    parser.add_argument("--metrics", required=True, help="summary JSON to write")
    parser.add_argument("--version", required=True, help="manifest version")
    parser.add_argument("--val-limit", type=int, default=None, help="score on the first N held-out images only")
    args = parser.parse_args()

    models = Path(args.models)
    models.mkdir(parents=True, exist_ok=True)
    entries, configs, metrics, runs = {}, {}, {}, {}
    for run in map(Path, args.runs):
        if not ((run / "model.pt").exists() and (run / "metrics.json").exists()):
            print(f"{run.name}: no trained model, left out", flush=True)
            continue
        try:
            started = time.time()
            entries[run.name] = export_member(run, run.name, models, Path(args.parity_image))
            print(f"{run.name}: exported in {time.time() - started:.0f} s", flush=True)
        except Exception:  # one member's failure must not cost the others' results
            traceback.print_exc()
            continue
        runs[run.name] = run
        configs[run.name] = json.loads((run / "config.json").read_text())
        metrics[run.name] = json.loads((run / "metrics.json").read_text())
    if not entries:
        raise SystemExit("no member was trained and exported")
    names = list(entries)
    config = configs[names[0]]
    if any(c["input"] != config["input"] for c in configs.values()):
        raise ValueError("members were trained with different input normalisation; the runtime feeds them one input")

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(config["train"]["threads"])
    val_ids = [line.strip() for line in Path(config["data"]["val_split_file"]).read_text().splitlines() if line.strip()]
    images = load_annotated(config["data"]["root"], val_ids[: args.val_limit] if args.val_limit else val_ids, config["data"]["layout"])
    seconds, predictions = 0.0, {}
    with torch.no_grad():
        for name in names:
            member = load_member(runs[name], device)
            for flip in TTA_ACCURATE:
                per_image, predictions[name, flip] = timed_predictions(member, images, config["input"], device, flip)
                seconds += per_image
    started = time.time()
    fused = {
        im.image_id: fuse([(predictions[key][im.image_id], entries[key[0]]["weight"]) for key in predictions], config["postprocess"]["nms_iou"])
        for im in images
    }
    fusion_seconds = (time.time() - started) / len(images)
    tuned = tune_thresholds(fused, images, config["classes"])
    post = {**config["postprocess"], **{k: tuned[k] for k in ("score_thresholds", "min_areas", "mask_threshold")}}
    ensemble_scores = score_with(fused, images, post, config["classes"])

    fast_name = max(names, key=lambda n: metrics[n]["map_tuned"]["map"])
    fast = {
        "members": [fast_name],
        "tta": ["none"],
        "postprocess": manifest_postprocess(metrics[fast_name]["postprocess"]),
        "validation": entries[fast_name]["validation"],
    }
    accurate = {"members": names, "tta": TTA_ACCURATE, "postprocess": manifest_postprocess(post), "validation": validation_record(ensemble_scores)}
    manifest = build_manifest(args.version, config, [entries[n] for n in names], fast, accurate)
    (models / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    summary = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "members": {
            n: {
                **{k: metrics[n].get(k) for k in ("steps", "minutes", "device", "inference_seconds_per_image", "map_default_thresholds", "map_tuned")},
                "onnx_mib": round((models / entries[n]["file"]).stat().st_size / (1 << 20), 2),
            }
            for n in names
        },
        "ensemble": {
            "members": names,
            "tta": TTA_ACCURATE,
            "map": ensemble_scores,
            "postprocess": post,
            # every member under every flip on this device, then fusion on the CPU
            "inference_seconds_per_image": round(seconds, 3),
            "fusion_seconds_per_image": round(fusion_seconds, 3),
        },
    }
    Path(args.metrics).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2), flush=True)


if __name__ == "__main__":
    main()
