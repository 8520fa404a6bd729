"""search_space: delta modules, candidate positions, gates, budgets and structures.

Pure PyTorch (plus transformers for loading and PEFT for export); never imports Ray
or MLflow.
"""

from __future__ import annotations

from search_space.apply import apply_structure, freeze, structure_from_candidates
from search_space.backbone import load_backbone, resolve_model_path
from search_space.budget import BudgetError, BudgetSpec, parse_budget
from search_space.delta_set import DeltaSet, DeltaSpec
from search_space.discretize import greedy_select, random_select
from search_space.families import UnsupportedModelError
from search_space.gates import GlobalSigmoidGates, solve_shift
from search_space.manual import MANUAL_NAMES, manual_structure
from search_space.positions import SPACES, Candidate, backbone_params, find_candidates, find_sites
from search_space.structure import Structure, StructureEntry, StructureFormatError
from search_space.supernet import GatedSupernet
from search_space.weights import BackboneMismatchError, backbone_fingerprint, read_delta, save_delta

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
]
