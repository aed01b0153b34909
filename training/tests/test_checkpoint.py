import json

import pytest
import torch

from cellseg_train import checkpoint


def trained_pair():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GroupNorm(8, 256), torch.nn.Linear(256, 8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 64)).sum().backward()
    optimizer.step()
    return model, optimizer


def save(folder, model, optimizer, step):
    checkpoint.save(
        folder,
        "m",
        {"model": {"tiny": True}},
        model,
        optimizer,
        {"step": step, "minutes": 1.5, "runs": [{"steps": step}]},
    )


def test_round_trip_in_float16_parts_within_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "MAX_PART_BYTES", 40_000)
    model, optimizer = trained_pair()
    save(tmp_path, model, optimizer, 7)
    index, state = checkpoint.load(tmp_path)
    assert index["step"] == 7 and index["config"] == {"model": {"tiny": True}}
    assert len(index["parts"]) > 1 and all(p["bytes"] <= 40_000 for p in index["parts"])
    restored, _ = trained_pair()
    restored.load_state_dict(checkpoint.float32_weights(state))
    for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4)
    fresh = torch.optim.SGD(restored.parameters(), lr=0.1, momentum=0.9)
    fresh.load_state_dict(state["optimizer"])
    momentum = [fresh.state[p]["momentum_buffer"] for p in restored.parameters()]
    assert all(m.dtype == torch.float32 for m in momentum)


def test_a_new_save_replaces_the_old_parts(tmp_path):
    model, optimizer = trained_pair()
    save(tmp_path, model, optimizer, 1)
    save(tmp_path, model, optimizer, 2)
    index = json.loads((tmp_path / "checkpoint.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["checkpoint.json"] + [p["file"] for p in index["parts"]]
    )


def test_a_damaged_part_is_refused(tmp_path):
    model, optimizer = trained_pair()
    save(tmp_path, model, optimizer, 3)
    part = tmp_path / checkpoint.load_index(tmp_path)["parts"][0]["file"]
    data = bytearray(part.read_bytes())
    data[100] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        checkpoint.load(tmp_path)
