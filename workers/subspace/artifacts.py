"""Writing an experiment's artifacts: safetensors for tensors, JSON for the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from search_space.subspace import SubspaceCodec
from workers.subspace.det_model import DetModel


def write_artifacts(
    out: Path,
    dets: list[DetModel],
    codecs: list[SubspaceCodec],
    thetas: list[torch.Tensor],
    points: torch.Tensor,
    vs: list[torch.Tensor],
    grid: dict[str, Any] | None,
) -> dict[str, str]:
    """codecs.safetensors (encoders, decoders, theta0 and theta_k per DET), v.safetensors
    (v*_k and P_k), layouts.json (how each theta maps to tensors), grid.json."""
    out.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for det, codec, theta in zip(dets, codecs, thetas, strict=True):
        for name, value in codec.state_dict().items():
            tensors[f"{det.name}.{name}"] = value.detach().cpu().contiguous()
        tensors[f"{det.name}.theta"] = theta.detach().cpu().contiguous()
    files = {"codecs.safetensors": out / "codecs.safetensors"}
    save_file(tensors, str(files["codecs.safetensors"]), metadata={"format": "s3delta.subspace"})
    points_and_v = {
        f"v.{d.name}": v.detach().cpu().contiguous() for d, v in zip(dets, vs, strict=True)
    }
    points_and_v.update(
        {f"P.{d.name}": p.detach().cpu().contiguous() for d, p in zip(dets, points, strict=True)}
    )
    files["v.safetensors"] = out / "v.safetensors"
    save_file(points_and_v, str(files["v.safetensors"]))
    layouts = {
        d.name: {
            "knob": d.choice.knob,
            "value": d.choice.value,
            "delta_size": d.delta_size,
            "head_size": d.head_size,
            "theta_size": d.layout.size,
            "tensors": d.layout.to_json(),
        }
        for d in dets
    }
    files["layouts.json"] = out / "layouts.json"
    files["layouts.json"].write_text(json.dumps(layouts, indent=2))
    if grid is not None:
        files["grid.json"] = out / "grid.json"
        files["grid.json"].write_text(json.dumps(grid))
    return {name: str(path) for name, path in files.items()}
