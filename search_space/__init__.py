"""search_space: delta modules, candidate positions, gates, budgets and structures.

Pure PyTorch (plus transformers for loading and PEFT for export); never imports Ray
or MLflow. The names below load on first use (PEP 562), so that importing a light
submodule such as `search_space.budget` (sweep validation does) does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from search_space.lazy import lazy_exports

if TYPE_CHECKING:
    from search_space.apply import apply_structure, freeze, structure_from_candidates
    from search_space.backbone import load_backbone, resolve_model_path
    from search_space.budget import BudgetError, BudgetSpec, parse_budget
    from search_space.delta_set import DeltaSet, DeltaSpec
    from search_space.discretize import greedy_select, random_select
    from search_space.families import UnsupportedModelError
    from search_space.gates import GlobalSigmoidGates, solve_shift
    from search_space.manual import MANUAL_NAMES, manual_structure
    from search_space.positions import (
        SPACES,
        Candidate,
        backbone_params,
        find_candidates,
        find_sites,
    )
    from search_space.structure import Structure, StructureEntry, StructureFormatError
    from search_space.supernet import GatedSupernet
    from search_space.uniform import uniform_select
    from search_space.weights import (
        BackboneMismatchError,
        backbone_fingerprint,
        read_delta,
        save_delta,
    )

# submodule -> the names it exports here (the TYPE_CHECKING imports above, for type checkers)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "apply": ("apply_structure", "freeze", "structure_from_candidates"),
    "backbone": ("load_backbone", "resolve_model_path"),
    "budget": ("BudgetError", "BudgetSpec", "parse_budget"),
    "delta_set": ("DeltaSet", "DeltaSpec"),
    "discretize": ("greedy_select", "random_select"),
    "families": ("UnsupportedModelError",),
    "gates": ("GlobalSigmoidGates", "solve_shift"),
    "manual": ("MANUAL_NAMES", "manual_structure"),
    "positions": ("SPACES", "Candidate", "backbone_params", "find_candidates", "find_sites"),
    "structure": ("Structure", "StructureEntry", "StructureFormatError"),
    "supernet": ("GatedSupernet",),
    "uniform": ("uniform_select",),
    "weights": ("BackboneMismatchError", "backbone_fingerprint", "read_delta", "save_delta"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "MANUAL_NAMES",
    "SPACES",
    "BackboneMismatchError",
    "BudgetError",
    "BudgetSpec",
    "Candidate",
    "DeltaSet",
    "DeltaSpec",
    "GatedSupernet",
    "GlobalSigmoidGates",
    "Structure",
    "StructureEntry",
    "StructureFormatError",
    "UnsupportedModelError",
    "apply_structure",
    "backbone_fingerprint",
    "backbone_params",
    "find_candidates",
    "find_sites",
    "freeze",
    "greedy_select",
    "load_backbone",
    "manual_structure",
    "parse_budget",
    "random_select",
    "read_delta",
    "resolve_model_path",
    "save_delta",
    "solve_shift",
    "structure_from_candidates",
    "uniform_select",
]
