import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from test_data import write_sartorius

from cellseg_train.config import load_config
from cellseg_train.export import export_graphs, store_weights_as_float16
from cellseg_train.model import build_model
from cellseg_train.quantize import (
    DEFAULT_SKIP,
    INT8_GRAPHS,
    QDQ_DOMAIN,
    activation_qparams,
    calibrate,
    calibration_ids,
    check_weights,
    conv_key,
    quantize_graph,
    quantize_weights,
)


def test_conv_nodes_are_keyed_by_module_path_and_call():
    assert conv_key("/backbone/body/layer1/layer1.0/conv1/Conv") == ("backbone.body.layer1.0.conv1", 0)
    assert conv_key("/backbone/fpn/inner_blocks.2/inner_blocks.2.0/Conv") == ("backbone.fpn.inner_blocks.2.0", 0)
    assert conv_key("/rpn/head/conv/conv.0/conv.0.0_2/Conv") == ("rpn.head.conv.0.0", 2)
    assert conv_key("/rpn/head/cls_logits_4/Conv") == ("rpn.head.cls_logits", 4)
    # The mask head's graph names its modules from roi_heads.
    assert conv_key("/mask_head/mask_head.0/mask_head.0.0/Conv", "roi_heads") == ("roi_heads.mask_head.0.0", 0)
    assert conv_key("/mask_predictor/mask_fcn_logits/Conv", "roi_heads") == (
        "roi_heads.mask_predictor.mask_fcn_logits",
        0,
    )


@pytest.mark.parametrize("bits", [7, 8])
def test_weights_are_symmetric_per_output_channel_within_half_a_step(bits):
    rng = np.random.default_rng(0)
    weights = (
        rng.normal(size=(4, 3, 3, 3)).astype(np.float32) * np.array([1, 10, 0.01, 0], np.float32)[:, None, None, None]
    )
    quantized, scales = quantize_weights(weights, bits)
    limit = 2 ** (bits - 1) - 1
    assert quantized.dtype == np.int8 and scales.shape == (4,)
    assert np.abs(quantized).max(axis=(1, 2, 3)).tolist() == [limit, limit, limit, 0]
    restored = quantized * scales[:, None, None, None]
    assert np.all(np.abs(restored - weights) <= scales[:, None, None, None] / 2 + 1e-7)


def test_activation_ranges_keep_zero_exact_and_cover_the_range():
    for low, high in [(0.0, 6.0), (-3.0, 5.0), (2.0, 4.0), (-4.0, -1.0)]:
        scale, zero_point = activation_qparams(low, high)
        assert 0 <= zero_point <= 255
        assert (0 - zero_point) * scale <= min(low, 0) + scale / 2
        assert (255 - zero_point) * scale >= max(high, 0) - scale / 2


def test_calibration_takes_training_images_only_types_in_turn(tmp_path):
    write_sartorius(tmp_path)
    config = load_config(None)
    config["data"].update(root=str(tmp_path), layout="sartorius", val_split_file=str(tmp_path / "val.txt"))
    (tmp_path / "val.txt").write_text("b0\nd3\n")
    ids = calibration_ids(config, 10)
    assert sorted(ids) == ["a1", "c2", "e4"]  # f5 is not annotated; b0 and d3 are held out
    assert {ids[0], ids[1]} & {"e4"}  # one image of each type before a second of any


def exported_member(tmp_path, images: int):
    """A fresh model's config, the model, its two graphs as export.py writes them (float16 weights) and the
    ranges its whole model saw on `images` random images."""
    torch.manual_seed(0)
    config = load_config(None)
    model = build_model(config).eval()
    inputs = [torch.randn(3, 128, 160) for _ in range(images)]
    paths = export_graphs(model, inputs[0], tmp_path, "m")
    for path in paths.values():
        store_weights_as_float16(path)
    return config, model, paths, calibrate(model, inputs)


@torch.no_grad()
def test_a_detector_graph_gets_qdq_convolutions_from_its_calibration(tmp_path):
    config, model, paths, ranges = exported_member(tmp_path, images=2)
    graph = onnx.load(str(paths["detector"]))
    check_weights(graph, model)
    with pytest.raises(ValueError, match="does not hold the weights of the checkpoint's backbone.body.layer1.0.conv1"):
        check_weights(graph, build_model(config))
    float_convs = {node.name: list(node.input) for node in graph.graph.node if node.op_type == "Conv"}

    quantized = quantize_graph(graph, ranges, DEFAULT_SKIP, weight_bits=7)
    onnx.checker.check_model(graph)

    skipped = {name for name in float_convs if conv_key(name)[0].startswith(DEFAULT_SKIP)}
    assert set(quantized) == set(float_convs) - skipped and len(quantized) > 20
    assert sum(conv_key(name) == ("rpn.head.conv.0.0", call) for name in quantized for call in range(5)) == 5
    producers = {out: node for node in graph.graph.node for out in node.output}
    consumers = {name: [n for n in graph.graph.node if name in n.input] for name in producers}
    initializers = {init.name: numpy_helper.to_array(init) for init in graph.graph.initializer}
    for node in graph.graph.node:
        if node.op_type != "Conv":
            continue
        ops = [producers[name].op_type if name in producers else "initializer" for name in node.input]
        if node.name in skipped:
            assert "DequantizeLinear" not in ops
            continue
        # DQ -> Conv -> Q: the pattern onnxruntime fuses into QLinearConv.
        assert ops == ["DequantizeLinear"] * len(float_convs[node.name])
        assert all(producers[name].domain == QDQ_DOMAIN for name in node.input)
        assert [n.op_type for n in consumers[node.output[0]]] == ["QuantizeLinear"]
        weights = initializers[producers[node.input[1]].input[0]]
        assert weights.dtype == np.int8 and np.abs(weights).max() <= 63
        input_range = ranges[conv_key(node.name)][:2]
        scale, zero_point = (initializers[name] for name in producers[node.input[0]].input[1:])
        assert zero_point.dtype == np.uint8
        assert (0 - int(zero_point)) * scale <= min(input_range[0], 0) + scale
        assert (255 - int(zero_point)) * scale >= input_range[1] - scale
    # The float16 weights the int8 ones replace are gone (the stem's remain).
    assert not any(name.endswith("__fp16") and ".body.layer" in name for name in initializers)
    assert any(name.endswith("body.conv1.conv.weight__fp16") for name in initializers)


@torch.no_grad()
def test_calibration_passes_over_a_mask_head_without_detections():
    torch.manual_seed(0)
    model = build_model(load_config(None)).eval()
    model.roi_heads.score_thresh = 1.0  # no detection: the mask head runs on none

    ranges = calibrate(model, [torch.randn(3, 128, 160)])

    assert ("backbone.body.layer1.0.conv1", 0) in ranges
    assert not any(path.startswith("roi_heads.mask_") for path, _ in ranges)


def test_a_convolution_without_calibration_is_refused():
    graph = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Conv", ["x", "w"], ["y"], "/head/conv/Conv")],
            "g",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
            [numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")],
        )
    )
    with pytest.raises(ValueError, match="no calibrated range for /head/conv/Conv"):
        quantize_graph(graph, {}, skip=())


@torch.no_grad()
def test_a_mask_head_graph_gets_qdq_convolutions_from_the_whole_models_calibration(tmp_path):
    # Prepare: a member's two graphs, and the ranges its whole model saw (the mask head on its detections)
    _, model, paths, ranges = exported_member(tmp_path, images=1)
    float_graph, scope = INT8_GRAPHS["masksInt8"]
    graph = onnx.load(str(paths[float_graph]))
    check_weights(graph, model, scope=scope)
    convs = [node.name for node in graph.graph.node if node.op_type == "Conv"]
    skip = ("roi_heads.mask_predictor",)

    # Act
    quantized = quantize_graph(graph, ranges, skip, weight_bits=7, scope=scope)
    onnx.checker.check_model(graph)

    # Assess: the four 3x3 convolutions in QDQ form; the predictor's 1x1 skipped, its ConvTranspose untouched
    assert quantized == [f"/mask_head/mask_head.{i}/mask_head.{i}.0/Conv" for i in range(4)]
    assert set(convs) - set(quantized) == {"/mask_predictor/mask_fcn_logits/Conv"}
    producers = {out: node for node in graph.graph.node for out in node.output}
    consumers = {name: [n for n in graph.graph.node if name in n.input] for name in producers}
    for node in graph.graph.node:
        inputs = [producers[name].op_type if name in producers else "initializer" for name in node.input]
        if node.name in quantized:
            assert inputs == ["DequantizeLinear", "DequantizeLinear"]  # no bias: GroupNorm follows
            assert [n.op_type for n in consumers[node.output[0]]] == ["QuantizeLinear"]
        elif node.op_type in ("Conv", "ConvTranspose"):
            assert "DequantizeLinear" not in inputs
    # The float16 weights the int8 ones replace are gone (the ConvTranspose's remain).
    initializers = {init.name for init in graph.graph.initializer}
    assert not any(name.endswith("__fp16") and ".mask_head." in name for name in initializers)
    assert "model.roi_heads.mask_predictor.conv5_mask.weight__fp16" in initializers
