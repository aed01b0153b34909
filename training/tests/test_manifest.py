import hashlib
import json

import pytest

from cellseg_train.manifest import add_graph


def test_a_graph_added_to_a_member_is_named_with_its_sha256(tmp_path):
    manifest = {"members": [{"name": "a", "graphs": {"detector": {"file": "a.detector.onnx", "sha256": "0" * 64}}}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    graph = tmp_path / "a.detector-int8.onnx"
    graph.write_bytes(b"int8 graph")

    add_graph(tmp_path, "a", "detectorInt8", graph)

    graphs = json.loads((tmp_path / "manifest.json").read_text())["members"][0]["graphs"]
    assert graphs["detector"]["sha256"] == "0" * 64
    assert graphs["detectorInt8"] == {"file": graph.name, "sha256": hashlib.sha256(b"int8 graph").hexdigest()}
    with pytest.raises(ValueError, match="names no member 'b'"):
        add_graph(tmp_path, "b", "detectorInt8", graph)
