"""Int8 convolutions for the CPU: a member's detector and mask-head graphs with chosen convolutions in QDQ form,
which onnxruntime's CPU provider fuses into QLinearConv (model-container/README.md, "The model").

    /usr/bin/python3 -m cellseg_train.quantize --checkpoint checkpoints/member-a --name member-a \
        --models ../model-container/models [--images 16] [--weight-bits 7] [--skip PREFIX ...]

Each chosen convolution reads DequantizeLinear outputs (its input through QuantizeLinear, int8 weights, an
int32 bias) and writes through QuantizeLinear -> DequantizeLinear: uint8 activations (asymmetric, the ranges
seen on training images, never the validation split) and int8 weights, symmetric per output channel (7 bits
by default: without VNNI, onnxruntime's u8s8 kernels add pairs of products in 16 bits, which 8-bit weights can
saturate). Ranges come from the checkpoint's PyTorch model (forward hooks, the whole model on each image: the
mask head on its detections), whose module paths name the exported graphs' Conv nodes; the checkpoint must be
the one the graphs were exported from (checked). The graphs are written as `<name>.detector-int8.onnx` and
`<name>.masks-int8.onnx` next to the float ones and added to the manifest's member (`graphs.detectorInt8`,
`graphs.masksInt8`).
"""
from __future__ import annotations

import argparse
import random
import re
from collections import defaultdict
from itertools import zip_longest
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from . import checkpoint
from .config import checkpoint_config_here
from .data import LAYOUTS, annotated_ids_by_type, load_or_create_split, read_image
from .manifest import add_graph
from .model import BoxFrameMaskRCNN, build_model
from .normalize import model_input

# onnxruntime's own domain: its QuantizeLinear / DequantizeLinear take a per-channel axis at any opset (the
# standard ops need opset 13, and the detector is opset 11 for RoiAlign's sake, see export.py).
QDQ_DOMAIN = "com.microsoft"
# Left in float32 by default: the stem (in int8 it moved member A's dense shsy5y boxes most, for no measurable
# gain in speed) and the small RPN convolutions that produce scores and box offsets. The mask head's five Conv
# nodes are all quantised: the four 3x3 ones and the predictor's 1x1, small itself, whose uint8 input lets
# onnxruntime drop the ReLU before it (a pass over the largest tensor, [N, 128, 28, 28]): 0.72x the float mask
# head's time, against 0.90x with the 1x1 left in float32 (bench/README.md). The predictor's ConvTranspose stays
# float32: onnxruntime's CPU provider has no quantised ConvTranspose to fuse it into.
DEFAULT_SKIP = ("backbone.body.conv1", "rpn.head.cls_logits", "rpn.head.bbox_pred")
# The int8 graphs (their keys in a member's manifest `graphs`): the float graph each rewrites, and the module
# its Conv nodes' names start from. The exporter names a node after the modules the graph's forward called:
# DetectorGraph calls the model's own (`backbone`, `rpn`), MaskHeadGraph those of `roi_heads` (`mask_head`).
INT8_GRAPHS = {"detectorInt8": ("detector", ""), "masksInt8": ("masks", "roi_heads")}

# (input min, input max, output min, output max) of one call of one convolution.
Ranges = Tuple[float, float, float, float]


def conv_key(node_name: str, scope: str = "") -> Tuple[str, int]:
    """(module path, call index) of a Conv node the TorchScript exporter named after its module's scopes:
    `/backbone/body/layer1/layer1.0/conv1/Conv` -> ("backbone.body.layer1.0.conv1", 0), and
    `/rpn/head/conv/conv.0/conv.0.0_2/Conv` (a module's third call) -> ("rpn.head.conv.0.0", 2). `scope` is the
    path of the module the names start from (`/mask_head/mask_head.0/mask_head.0.0/Conv` in `roi_heads` ->
    ("roi_heads.mask_head.0.0", 0))."""
    *names, _ = node_name.strip("/").split("/")
    call = 0
    match = re.fullmatch(r"(.*)_(\d+)", names[-1])
    if match:
        names[-1], call = match.group(1), int(match.group(2))
    path: List[str] = []
    for name in names:
        # A child of a container is scoped by its qualified name inside it (`layer1` -> `layer1.0`).
        if path and name.startswith(path[-1] + "."):
            path[-1] = name
        else:
            path.append(name)
    return ".".join([scope, *path] if scope else path), call


@torch.no_grad()
def calibrate(model: torch.nn.Module, images: Iterable[torch.Tensor]) -> Dict[Tuple[str, int], Ranges]:
    """Every convolution call's input and output range over `images` (model inputs), keyed by conv_key."""
    ranges: Dict[Tuple[str, int], Ranges] = {}
    calls: Dict[str, int] = defaultdict(int)

    def record(path: str):
        def hook(_module, inputs, output):
            key = (path, calls[path])
            calls[path] += 1
            if output.numel() == 0:
                return  # the mask head on an image without detections: no values to see
            seen = (float(inputs[0].min()), float(inputs[0].max()), float(output.min()), float(output.max()))
            old = ranges.get(key, seen)
            ranges[key] = (min(old[0], seen[0]), max(old[1], seen[1]), min(old[2], seen[2]), max(old[3], seen[3]))

        return hook

    handles = [
        module.register_forward_hook(record(path))
        for path, module in model.named_modules()
        if isinstance(module, torch.nn.Conv2d)
    ]
    try:
        # The trained modules themselves, not the exported graph's rewrites of some (their copies carry no
        # hooks); the values every quantised convolution sees are the same.
        whole = BoxFrameMaskRCNN(model).eval()
        for image in images:
            calls.clear()
            whole(image)
    finally:
        for handle in handles:
            handle.remove()
    return ranges


def activation_qparams(low: float, high: float) -> Tuple[float, int]:
    """uint8 scale and zero point covering [low, high] and 0 (zero padding must stay exact)."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0 or 1.0
    return scale, int(np.clip(round(-low / scale), 0, 255))


def quantize_weights(weights: np.ndarray, bits: int) -> Tuple[np.ndarray, np.ndarray]:
    """int8 weights symmetric per output channel in [-(2^(bits-1) - 1), 2^(bits-1) - 1], and their scales."""
    limit = 2 ** (bits - 1) - 1
    peak = np.abs(weights.reshape(weights.shape[0], -1)).max(axis=1)
    scales = np.where(peak > 0, peak / limit, 1.0).astype(np.float32)
    shape = (-1,) + (1,) * (weights.ndim - 1)
    quantized = np.clip(np.round(weights / scales.reshape(shape)), -limit, limit).astype(np.int8)
    return quantized, scales


class _Rewriter:
    """Adds QDQ nodes and initializers to one graph: one Q per quantised tensor, one DQ per consumer, each
    convolution's new nodes placed around it (which keeps the graph's nodes topologically sorted)."""

    def __init__(self, model: onnx.ModelProto):
        self.graph = model.graph
        self.initializers = {init.name: init for init in self.graph.initializer}
        self.producers = {out: node for node in self.graph.node for out in node.output}
        # A quantised tensor's QuantizeLinear output and its [scale, zero point] initializers.
        self.quantized: Dict[str, Tuple[str, List[str]]] = {}
        # The float weights and biases that int8 ones replace.
        self.replaced: set = set()
        self.before: Dict[str, List[onnx.NodeProto]] = defaultdict(list)
        self.after: Dict[str, List[onnx.NodeProto]] = defaultdict(list)

    def constant(self, name: str, values: np.ndarray) -> str:
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(values, name)
            self.graph.initializer.append(self.initializers[name])
        return name

    def qparams(self, tensor: str, scale: float, zero_point: int) -> List[str]:
        return [
            self.constant(f"{tensor}_scale", np.array(scale, np.float32)),
            self.constant(f"{tensor}_zero_point", np.array(zero_point, np.uint8)),
        ]

    def float_values(self, name: str) -> np.ndarray:
        """A constant input's float32 values: an initializer, through export.py's Cast of a float16 one and the
        exporter's Identity of a duplicate."""
        while name not in self.initializers:
            producer = self.producers.get(name)
            if producer is None or producer.op_type not in ("Cast", "Identity"):
                raise ValueError(f"{name} is not a constant: cannot quantise the convolution that reads it")
            name = producer.input[0]
        return numpy_helper.to_array(self.initializers[name]).astype(np.float32)

    def convolution(self, conv: onnx.NodeProto, ranges: Ranges, weight_bits: int) -> None:
        before = self.before[conv.name]

        def add(into: List[onnx.NodeProto], op: str, inputs: Sequence[str], output: str, **attributes) -> str:
            into.append(helper.make_node(op, list(inputs), [output], output, domain=QDQ_DOMAIN, **attributes))
            return output

        tensor = conv.input[0]
        if tensor not in self.quantized:
            params = self.qparams(tensor, *activation_qparams(ranges[0], ranges[1]))
            self.quantized[tensor] = (add(before, "QuantizeLinear", [tensor, *params], f"{tensor}_quantized"), params)
        quantized_input, in_params = self.quantized[tensor]
        in_scale = float(numpy_helper.to_array(self.initializers[in_params[0]]))
        weights, scales = quantize_weights(self.float_values(conv.input[1]), weight_bits)
        weight = conv.input[1]
        weight_params = [
            self.constant(f"{weight}_int8", weights),
            self.constant(f"{weight}_scales", scales),
            self.constant(f"{weight}_zero_points", np.zeros(len(scales), np.int8)),
        ]
        inputs = [
            add(before, "DequantizeLinear", [quantized_input, *in_params], f"{tensor}_dequantized_{conv.name}"),
            add(before, "DequantizeLinear", weight_params, f"{weight}_dequantized_{conv.name}", axis=0),
        ]
        if len(conv.input) > 2:
            # QLinearConv adds an int32 bias in the accumulator's scale (input scale x weight scale).
            bias = conv.input[2]
            bias_scales = (scales * in_scale).astype(np.float32)
            bias_params = [
                self.constant(
                    f"{bias}_int32_{conv.name}", np.round(self.float_values(bias) / bias_scales).astype(np.int32)
                ),
                self.constant(f"{bias}_scales_{conv.name}", bias_scales),
                self.constant(f"{bias}_zero_points_{conv.name}", np.zeros(len(scales), np.int32)),
            ]
            inputs.append(add(before, "DequantizeLinear", bias_params, f"{bias}_dequantized_{conv.name}", axis=0))
        output = conv.output[0]
        out_params = self.qparams(output, *activation_qparams(ranges[2], ranges[3]))
        self.replaced.update(conv.input[1:])
        conv.input[:] = inputs
        conv.output[0] = f"{output}_float"
        after = self.after[conv.name]
        quantized = add(after, "QuantizeLinear", [conv.output[0], *out_params], f"{output}_quantized")
        # A convolution reading this one's output takes its uint8 values as they are.
        self.quantized[output] = (quantized, out_params)
        after.append(
            helper.make_node(
                "DequantizeLinear", [quantized, *out_params], [output], f"{output}_dequantized", domain=QDQ_DOMAIN
            )
        )

    def finish(self) -> None:
        ordered: List[onnx.NodeProto] = []
        for node in self.graph.node:
            ordered += self.before.pop(node.name, []) + [node] + self.after.pop(node.name, [])
        # The float weights the int8 ones replace (and export.py's Casts of them) would only take space.
        used = _inputs_read(ordered) | {output.name for output in self.graph.output}
        dropped = {name for name in self.replaced if name not in used}
        ordered = [node for node in ordered if not (node.op_type in ("Cast", "Identity") and node.output[0] in dropped)]
        used = _inputs_read(ordered)
        kept = [init for init in self.graph.initializer if init.name in used]
        del self.graph.node[:]
        self.graph.node.extend(ordered)
        del self.graph.initializer[:]
        self.graph.initializer.extend(kept)


def _inputs_read(nodes: Iterable[onnx.NodeProto]) -> set:
    """Every tensor name the nodes read, those of their subgraphs (the `If` branches) included."""
    names = set()
    for node in nodes:
        names.update(node.input)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                names |= _inputs_read(attribute.g.node)
    return names


def quantized_convolutions(model: onnx.ModelProto, skip: Sequence[str], scope: str = "") -> List[onnx.NodeProto]:
    """The graph's Conv nodes whose module path (from `scope`, see conv_key) starts with none of `skip`."""
    return [
        node
        for node in model.graph.node
        if node.op_type == "Conv"
        and not any(
            conv_key(node.name, scope)[0] == p or conv_key(node.name, scope)[0].startswith(p + ".") for p in skip
        )
    ]


def quantize_graph(
    model: onnx.ModelProto,
    ranges: Dict[Tuple[str, int], Ranges],
    skip: Sequence[str] = DEFAULT_SKIP,
    weight_bits: int = 7,
    scope: str = "",
) -> List[str]:
    """Rewrites `model` (a float graph whose Conv nodes are named from the module `scope`) in place: every Conv
    whose module path starts with none of `skip` gets QDQ nodes from its calibrated `ranges`. Returns the
    quantised nodes' names."""
    rewriter = _Rewriter(model)
    done = []
    for node in quantized_convolutions(model, skip, scope):
        key = conv_key(node.name, scope)
        if key not in ranges:
            raise ValueError(f"no calibrated range for {node.name} (module {key[0]}, call {key[1]})")
        rewriter.convolution(node, ranges[key], weight_bits)
        done.append(node.name)
    rewriter.finish()
    if not any(opset.domain == QDQ_DOMAIN for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid(QDQ_DOMAIN, 1))
    return done


def check_weights(
    graph: onnx.ModelProto, model: torch.nn.Module, skip: Sequence[str] = DEFAULT_SKIP, scope: str = ""
) -> None:
    """Refuses a graph whose convolutions to quantise do not hold `model`'s weights (as export.py stores them:
    float16), since their ranges are calibrated on `model`. (The others may be rewritten at export: the stem's.)"""
    rewriter = _Rewriter(graph)
    modules = dict(model.named_modules())
    for node in quantized_convolutions(graph, skip, scope):
        path = conv_key(node.name, scope)[0]
        module = modules.get(path)
        expected = module.weight.detach().half().float().numpy() if isinstance(module, torch.nn.Conv2d) else None
        found = rewriter.float_values(node.input[1])
        if expected is None or expected.shape != found.shape or not np.allclose(expected, found, atol=1e-3):
            raise ValueError(f"{node.name} does not hold the weights of the checkpoint's {path}")


def calibration_ids(config: dict, count: int, seed: int = 0) -> List[str]:
    """`count` training images (never the validation split's), the cell types taken in turn."""
    _, val = load_or_create_split(config)
    held_out = set(val)
    rng = random.Random(seed)
    by_type = []
    for ids in annotated_ids_by_type(config["data"]["root"], config["data"]["layout"]).values():
        kept = [i for i in ids if i not in held_out]
        rng.shuffle(kept)
        by_type.append(kept)
    return [i for turn in zip_longest(*by_type) for i in turn if i is not None][:count]


def quantize_member(
    folder: Path, name: str, models: Path, images: int, skip: Sequence[str], weight_bits: int
) -> Dict[str, Path]:
    """Calibrates the checkpoint's model on training images and writes each of INT8_GRAPHS from the member's float
    graph in `models` (`<name>.detector-int8.onnx`, `<name>.masks-int8.onnx`); returns their paths by key."""
    index, state = checkpoint.load(folder)
    config = checkpoint_config_here(index["config"])
    torch.set_num_threads(config["train"]["threads"])
    model = build_model(config)
    model.load_state_dict(checkpoint.float32_weights(state))
    model.eval()
    layout = LAYOUTS[config["data"]["layout"]]
    root = Path(config["data"]["root"])
    graphs = {}
    for key, (float_graph, scope) in INT8_GRAPHS.items():
        graphs[key] = onnx.load(str(models / f"{name}.{float_graph}.onnx"))
        check_weights(graphs[key], model, skip, scope)
    inputs = (
        model_input(read_image(root / layout.images / f"{image_id}{layout.suffix}"), config["input"])
        for image_id in calibration_ids(config, images)
    )
    ranges = calibrate(model, inputs)
    paths = {}
    for key, (float_graph, scope) in INT8_GRAPHS.items():
        graph = graphs[key]
        quantized = quantize_graph(graph, ranges, skip, weight_bits, scope)
        onnx.checker.check_model(graph)
        paths[key] = models / f"{name}.{float_graph}-int8.onnx"
        onnx.save(graph, str(paths[key]))
        print(
            f"{paths[key]}: {len(quantized)} convolutions in int8 ({weight_bits}-bit weights), "
            f"calibrated on {images} images"
        )
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="the member's checkpoint folder (the exported weights)")
    parser.add_argument("--name", required=True, help="member name in the manifest")
    parser.add_argument("--models", required=True, help="model directory holding the member's float graphs")
    parser.add_argument("--images", type=int, default=16, help="training images to calibrate on")
    parser.add_argument("--weight-bits", type=int, default=7, choices=(7, 8))
    parser.add_argument(
        "--skip",
        nargs="*",
        default=list(DEFAULT_SKIP),
        help="module paths (and their children) left in float32; default: %(default)s",
    )
    args = parser.parse_args()
    models = Path(args.models)
    paths = quantize_member(Path(args.checkpoint), args.name, models, args.images, args.skip, args.weight_bits)
    for key, path in paths.items():
        add_graph(models, args.name, key, path)


if __name__ == "__main__":
    main()
