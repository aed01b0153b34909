"""Export trained members to ONNX (the contract: model-container/README.md, "The model") and write the manifest.

    /usr/bin/python3 -m cellseg_train.export --checkpoint checkpoints/member-a --name member-a \
        --models ../model-container/models --parity-image ../../shared/data/sartorius/test/7ae19de7bc2a.png \
        [--metrics metrics.json] [--append]

Each member is exported as two graphs, the detector and the mask head (box-frame masks), its weights stored
as float16 (halving the repository footprint; onnxruntime folds the casts back to float32 when it loads the
graph), and a parity record of PyTorch's own outputs on one image, which the Node test suite compares against
onnxruntime-node. The manifest entry and the manifest itself are manifest.py's.
"""
from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torchvision.ops import poolers

from . import checkpoint
from .config import checkpoint_config_here
from .data import read_image
from .normalize import model_input
from .manifest import member_entry, write_manifest
from .model import BoxFrameMaskRCNN, DetectorGraph, MaskHeadGraph, build_model, mask_feature_names

# Opset 11: torchvision <= 0.14 registers RoIAlign only for opset 11 and emits no
# coordinate_transformation_mode, which opset 16 would read as 'half_pixel' (aligned=True semantics),
# shifting every pooled feature by half a pixel. Opset 11's RoiAlign means what our aligned=False model does.
OPSET = 11
PARITY_DETECTIONS = 50
# Small tensors (norm scales, biases) stay float32: they are a negligible share of the file.
FLOAT16_MIN_ELEMENTS = 1024


def merge_levels_by_gather(levels: torch.Tensor, unmerged_results: list) -> torch.Tensor:
    """The multi-level RoIAlign's merge, as one Gather: torchvision's ONNX merge scatters every level's
    [N, C, 7, 7] result into a zero tensor through an index expanded to the same size, which took a tenth
    of the whole graph's time over 1500 proposals. Same values, in the same order."""
    order = torch.cat([torch.where(levels == level)[0] for level in range(len(unmerged_results))])
    position = torch.zeros_like(order).scatter(0, order, torch.arange(order.shape[0], dtype=order.dtype))
    return torch.cat(unmerged_results)[position]


def export_onnx(
    graph: torch.nn.Module, example: tuple, path: Path, inputs: list, outputs: list, dynamic_axes: dict
) -> None:
    kwargs = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # torchvision detection models export with the TorchScript exporter only
    merge_levels = poolers._onnx_merge_levels
    poolers._onnx_merge_levels = merge_levels_by_gather
    try:
        torch.onnx.export(
            graph,
            example,
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            **kwargs,
        )
    finally:
        poolers._onnx_merge_levels = merge_levels


def export_graphs(model: torch.nn.Module, example: torch.Tensor, models: Path, name: str) -> dict:
    """The member as two graphs (the contract: model-container/README.md, "The model"): the detector, and the
    mask head the runtime runs on the detections it keeps. Returns {"detector": path, "masks": path}."""
    features = mask_feature_names(model)
    level_axes = {feature: {2: f"{feature}_height", 3: f"{feature}_width"} for feature in features}
    detections = {"boxes": {0: "detections"}, "scores": {0: "detections"}, "labels": {0: "detections"}}
    paths = {"detector": models / f"{name}.detector.onnx", "masks": models / f"{name}.masks.onnx"}
    detector = DetectorGraph(model).eval()
    export_onnx(
        detector,
        (example,),
        paths["detector"],
        ["image"],
        ["boxes", "scores", "labels", *features],
        {"image": {1: "height", 2: "width"}, **detections, **level_axes},
    )
    with torch.no_grad():
        levels = detector(example)[3:]
    # Traced on fixed boxes of every size (every pyramid level), not on the model's own detections: a barely
    # trained member may find none.
    height, width = example.shape[-2:]
    sides = torch.tensor([16.0, 48.0, 128.0, 320.0])
    boxes = torch.stack([torch.zeros(4), torch.zeros(4), sides.clamp(max=width), sides.clamp(max=height)], 1)
    labels = torch.arange(len(sides)) % (model.roi_heads.box_predictor.cls_score.out_features - 1) + 1
    export_onnx(
        MaskHeadGraph(model, (height, width)).eval(),
        (boxes, labels, *levels),
        paths["masks"],
        ["boxes", "labels", *features],
        ["masks"],
        {"boxes": {0: "detections"}, "labels": {0: "detections"}, "masks": {0: "detections"}, **level_axes},
    )
    return paths


def store_weights_as_float16(path: Path, min_elements: int = FLOAT16_MIN_ELEMENTS) -> None:
    """Replace large float32 initializers by float16 ones followed by a Cast back to float32."""
    model = onnx.load(str(path))
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        values = numpy_helper.to_array(init)
        half_name = f"{init.name}__fp16"
        half = numpy_helper.from_array(values.astype(np.float16), half_name)
        init.CopyFrom(half)
        casts.append(helper.make_node("Cast", [half_name], [half_name[: -len("__fp16")]], to=onnx.TensorProto.FLOAT))
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@torch.no_grad()
def parity_record(member: torch.nn.Module, image_path: Path, input_cfg: dict) -> dict:
    """PyTorch's outputs on one image, for the onnxruntime-node parity test."""
    tensor = model_input(read_image(image_path), input_cfg)
    boxes, scores, labels, masks = member(tensor)
    top = slice(0, PARITY_DETECTIONS)
    return {
        "image": image_path.name,
        "inputShape": list(tensor.shape),
        "inputSum": float(tensor.double().sum()),
        "inputSquareSum": float((tensor.double() ** 2).sum()),
        "detections": int(len(scores)),
        "boxes": np.round(boxes[top].numpy(), 3).tolist(),
        "scores": np.round(scores[top].numpy(), 5).tolist(),
        "labels": labels[top].tolist(),
        "maskMeans": np.round(masks[top].mean((1, 2, 3)).numpy(), 5).tolist(),
    }


def export_member(folder: Path, name: str, models: Path, parity_image: Path, metrics: dict | None = None) -> dict:
    """ONNX (float16 weights) and parity record of a member's checkpoint; returns its manifest entry.
    `metrics` (validate.py's) adds the member's validation scores to the entry."""
    index, state = checkpoint.load(folder)
    config = index["config"]
    torch.set_num_threads(config["train"]["threads"])
    model = build_model(config)
    model.load_state_dict(checkpoint.float32_weights(state))
    member = BoxFrameMaskRCNN(model).eval()

    example = model_input(read_image(parity_image), config["input"])
    with torch.no_grad():
        paths = export_graphs(model, example, models, name)
    for path in paths.values():
        store_weights_as_float16(path)
    # A single-graph file or int8 graphs of this member from an earlier export would only mislead: the manifest
    # no longer names them (quantize.py makes the int8 graphs of these weights).
    for stale in (f"{name}.onnx", f"{name}.detector-int8.onnx", f"{name}.masks-int8.onnx"):
        (models / stale).unlink(missing_ok=True)
    # Parity is recorded with the weights the ONNX file holds: the large ones rounded to float16.
    model.load_state_dict(
        {
            k: v.half().float() if v.is_floating_point() and v.numel() >= FLOAT16_MIN_ELEMENTS else v
            for k, v in model.state_dict().items()
        }
    )
    parity_dir = models / "parity"
    parity_dir.mkdir(exist_ok=True)
    (parity_dir / f"{name}.json").write_text(json.dumps(parity_record(member, parity_image, config["input"])))
    throughput_path = folder / "throughput.json"
    throughput = json.loads(throughput_path.read_text()) if throughput_path.exists() else None
    return member_entry(name, paths, index, metrics, throughput)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="the member's checkpoint folder")
    parser.add_argument("--name", required=True, help="member name in the manifest")
    parser.add_argument("--models", required=True, help="model directory (model-container/models)")
    parser.add_argument("--parity-image", required=True)
    parser.add_argument("--metrics", default=None, help="validate.py's metrics: validation scores and tuned thresholds")
    parser.add_argument("--version", default=None, help="manifest version (default: the member name)")
    parser.add_argument(
        "--append", action="store_true", help="add the member to the directory's manifest instead of replacing it"
    )
    args = parser.parse_args()

    folder, models = Path(args.checkpoint), Path(args.models)
    models.mkdir(parents=True, exist_ok=True)
    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    entry = export_member(folder, args.name, models, Path(args.parity_image), metrics)
    config = checkpoint_config_here(checkpoint.load_index(folder)["config"])
    post = metrics["postprocess"] if metrics else config["postprocess"]
    write_manifest(models, entry, config, post, args.version or args.name, args.append)


if __name__ == "__main__":
    main()
