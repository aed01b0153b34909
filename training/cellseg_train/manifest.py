"""The model manifest (`model-container/models/manifest.json`, its schema `core/schemas/manifest.ts`): a member's
entry, the profiles, and adding a member to a manifest that already names others. export.py writes the graphs
it describes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .model import anchor_sizes_per_level

TTA_ACCURATE = ["none", "horizontal", "vertical"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def member_entry(name: str, paths: dict, index: dict, metrics: dict | None, throughput: dict | None = None) -> dict:
    config = index["config"]
    model_cfg = config["model"]
    layer4 = "" if model_cfg["trunk_stages"] == 4 else " without layer4 (P6-P7 conv levels)"
    anchors = [list(level) for level in anchor_sizes_per_level(model_cfg["anchor_sizes"])]
    entry = {
        "name": name,
        "graphs": {graph: {"file": path.name, "sha256": sha256(path)} for graph, path in paths.items()},
        "architecture": (
            f"Mask R-CNN, {model_cfg['backbone']}{layer4}-FPN ({model_cfg['fpn_channels']} channels, GroupNorm), "
            f"anchors {anchors} px x ratios {model_cfg['aspect_ratios']}, "
            f"{len(model_cfg['mask_head_layers'])}-conv mask head, trained from scratch"
        ),
        "trainingData": "Sartorius train/ (Kaggle 2021), annotated images minus the validation split",
        "training": {
            "steps": index["step"],
            "minutes": index["minutes"],
            # Every run (CPU stretch or GPU round) that led to this checkpoint: device, steps, minutes, crop, batch.
            "runs": index["runs"],
        },
        "weight": 1,
    }
    if metrics is not None:
        entry["validation"] = validation_record(metrics["map_tuned"])
    if throughput is not None:
        # throughput.py's figures (PyTorch, whole 704x520 images), for the closest figure to the endpoint's speed.
        entry["training"]["throughput"] = {
            "device": throughput["device"],
            "checkpointStep": throughput["checkpoint_step"],
            "imagesPerSecond": {
                f"{m['precision']}-batch{m['batch']}": m["images_per_second"] for m in throughput["measurements"]
            },
        }
    return entry


def validation_record(scores: dict) -> dict:
    """score_with's output as the manifest records it."""
    return {"map": scores["map"], "mapPerType": scores["map_per_type"], "images": scores["images"]}


def manifest_postprocess(post: dict) -> dict:
    return {
        "scoreThresholds": post["score_thresholds"],
        "minAreas": post["min_areas"],
        "maskThreshold": post["mask_threshold"],
        "fusionIou": post["fusion_iou"],
        "minKeptFraction": post["min_kept_fraction"],
    }


def manifest_input(config: dict) -> dict:
    inp = config["input"]
    return {
        "percentileLow": inp["percentile_low"],
        "percentileHigh": inp["percentile_high"],
        "mean": inp["mean"],
        "std": inp["std"],
        "scale": inp["scale"],
        "sizeDivisor": inp["size_divisor"],
    }


def build_manifest(version: str, config: dict, members: list, fast: dict, accurate: dict) -> dict:
    """`fast` and `accurate` are profile objects; the top-level post-processing is the fast profile's."""
    return {
        "version": version,
        "classes": config["classes"],
        "input": manifest_input(config),
        "maskSize": 28,
        "members": members,
        "postprocess": fast["postprocess"],
        "profiles": {"fast": fast, "accurate": accurate},
        "validationSplit": "training/splits/val.txt",
    }


def merged_manifest(existing: dict | None, entry: dict, config: dict, post: dict, version: str) -> dict:
    """Add (or replace) one member: `fast` is the member with the best validation mAP, `accurate` all of them
    under flips. The accurate profile keeps no thresholds of its own: fusion changes the score scale, so
    `npm run validate-models -- --tune` tunes them afterwards."""
    members = [entry]
    fast = {"members": [entry["name"]], "tta": ["none"], "postprocess": manifest_postprocess(post)}
    if "validation" in entry:
        fast["validation"] = entry["validation"]
    if existing is not None:
        if existing["input"] != manifest_input(config):
            raise ValueError("the new member was trained with other input normalisation than the manifest's members")
        members = [m for m in existing["members"] if m["name"] != entry["name"]] + [entry]
        best = max(members, key=lambda m: m.get("validation", {}).get("map", 0.0))
        if best is not entry:
            kept = existing["profiles"]["fast"]
            fast = {**kept, "members": [best["name"]], "postprocess": kept.get("postprocess", existing["postprocess"])}
    accurate = {"members": [m["name"] for m in members], "tta": TTA_ACCURATE}
    return build_manifest(version, config, members, fast, accurate)


def add_graph(models: Path, member: str, graph: str, path: Path) -> dict:
    """Names one more graph (`graph`: its key in the member's `graphs`) of `member` in `models`/manifest.json,
    with its sha256. Returns the manifest written."""
    manifest_path = models / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = next((m for m in manifest["members"] if m["name"] == member), None)
    if entry is None:
        raise ValueError(f"{manifest_path} names no member {member!r}")
    entry["graphs"][graph] = {"file": path.name, "sha256": sha256(path)}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def write_manifest(models: Path, entry: dict, config: dict, post: dict, version: str, append: bool) -> dict:
    """Write `models`/manifest.json naming the member `entry`: alone, or with `append` added to the members
    the manifest already names. Returns the manifest written."""
    path = models / "manifest.json"
    existing = json.loads(path.read_text()) if append and path.exists() else None
    manifest = merged_manifest(existing, entry, config, post, version)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
