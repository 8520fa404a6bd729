"""Which tuned fields matter to which method, so no trial spends Optuna's budget on no-ops.

Only s3delta has a structure-search phase; fine-tuning trains the backbone instead
of delta modules. Sampling e.g. `structure_lr` for a LoRA baseline would add a
dimension that cannot change its score and slow the sampler down.
"""

from __future__ import annotations

from workers.methods import Method

SEARCH_PHASE_FIELDS = frozenset(
    {
        "search_steps",
        "structure_lr",
        "beta",
        "darts_order",
        "rescale",
        "gradient_projection",
        "gate_temperature",
        "gate_temperature_final",
        "alpha_warmup_steps",
        "search_epochs",
        "search_eval_examples",
        "search_fittable_only",
    }
)
DELTA_FIELDS = frozenset({"delta_lr", "lora_scale", "adapter_width"})
FINETUNE_FIELDS = frozenset({"finetune_lr"})


def applies_to(field: str, method: Method) -> bool:
    """True when `field` can change the outcome of a trial of `method`."""
    if field in SEARCH_PHASE_FIELDS:
        return method.family == "s3delta"
    if field in DELTA_FIELDS:
        return method.family != "finetune"
    if field in FINETUNE_FIELDS:
        return method.family == "finetune"
    return True
