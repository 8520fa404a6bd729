"""The unified optimisation subspace of delta tunings (Yi et al. 2022), pure PyTorch.

DETs of matched size (`dets`), their solutions as flat vectors (`flat`), per-DET
encoders and decoders (`codec`), convex mixing of the points (`mixing`) and the
landscape plane (`plane`). No training loop here: the stages live in workers/subspace.
"""

from __future__ import annotations

from search_space.subspace.codec import SubspaceCodec
from search_space.subspace.dets import (
    DETS,
    DetChoice,
    DetModule,
    SizeMatchError,
    det_sites,
    det_size,
    match_sizes,
    matchable_targets,
)
from search_space.subspace.flat import FlatEntry, FlatLayout
from search_space.subspace.mixing import convex_weights, mix
from search_space.subspace.plane import Grid, Plane, grid_on, plane_through

__all__ = [
    "DETS",
    "DetChoice",
    "DetModule",
    "FlatEntry",
    "FlatLayout",
    "Grid",
    "Plane",
    "SizeMatchError",
    "SubspaceCodec",
    "convex_weights",
    "det_sites",
    "det_size",
    "grid_on",
    "match_sizes",
    "matchable_targets",
    "mix",
    "plane_through",
]
