"""A member's training checkpoint as a folder of files small enough to commit and to carry (<= 15.5 MiB each).

    <folder>/checkpoint.json    the config, the step, the training history, and the parts with their sha256
    <folder>/<name>-<step>.partNN  one torch.save'd dict split into parts: float16 weights and SGD momentum

Float16 halves the footprint; training continues in float32 (the optimizer casts its state back to the
parameters' type on load). A save writes the new parts first, then replaces checkpoint.json, then deletes
the old parts, so a process killed mid-save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List

import torch

INDEX = "checkpoint.json"
MAX_PART_BYTES = int(15.5 * (1 << 20))
FORMAT = 1


def exists(folder: Path) -> bool:
    return (folder / INDEX).exists()


def save(
    folder: Path,
    name: str,
    config: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    progress: dict,
) -> None:
    """`progress`: {"step", "minutes" (all runs together), "runs": [per-run records]}."""
    folder.mkdir(parents=True, exist_ok=True)
    state: Dict[str, Any] = {"model": _half(model.state_dict())}
    if optimizer is not None:
        state["optimizer"] = _half(optimizer.state_dict())
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    previous = load_index(folder) if exists(folder) else None
    parts: List[dict] = []
    part_bytes = math.ceil(len(data) / math.ceil(len(data) / MAX_PART_BYTES))  # equal parts, as few as fit
    for number, offset in enumerate(range(0, len(data), part_bytes)):
        chunk = data[offset : offset + part_bytes]
        file = f"{name}-{progress['step']:06d}.part{number:02d}"
        _write_atomically(folder / file, chunk)
        parts.append({"file": file, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
    index = {
        "format": FORMAT,
        "name": name,
        **progress,
        "hasOptimizer": optimizer is not None,
        "config": config,
        "parts": parts,
    }
    _write_atomically(folder / INDEX, (json.dumps(index, indent=2) + "\n").encode())
    kept = {p["file"] for p in parts}
    for old in (previous or {}).get("parts", []):
        if old["file"] not in kept:
            (folder / old["file"]).unlink(missing_ok=True)


def load(folder: Path, device: torch.device | str = "cpu") -> tuple[dict, Dict[str, Any]]:
    """(index, state): state["model"] (and state["optimizer"] when saved) in float16, on `device`."""
    index = load_index(folder)
    chunks = []
    for part in index["parts"]:
        chunk = (folder / part["file"]).read_bytes()
        if hashlib.sha256(chunk).hexdigest() != part["sha256"]:
            raise ValueError(
                f"{folder / part['file']} does not match checkpoint.json (sha256): a damaged or partial checkpoint"
            )
        chunks.append(chunk)
    # Not weights_only: torch 1.13's restricted unpickler refuses optimizer state. The parts were just
    # verified against the index, which is the project's own file.
    state = torch.load(io.BytesIO(b"".join(chunks)), map_location=device, weights_only=False)
    return index, state


def float32_weights(state: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()}


def load_index(folder: Path) -> dict:
    """The checkpoint's description (config, step, runs) without loading its tensors."""
    index = json.loads((folder / INDEX).read_text())
    if index.get("format") != FORMAT:
        raise ValueError(f"{folder / INDEX}: unknown checkpoint format {index.get('format')}")
    return index


def _half(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float16) if value.is_floating_point() else value.detach().cpu()
    if isinstance(value, dict):
        return {k: _half(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_half(v) for v in value]
    return value


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
