"""Methods a trial can run, one `MethodSpec` per file, registered here one line each.

To add a method: write ``workers/methods/<name>.py`` with a `MethodSpec` subclass
(see `workers.methods.base` for what it declares) and add ``register(<Class>())`` below.
The sweep validator, the plan (cells, tuned fields) and the trial all read it from here.
"""

from __future__ import annotations

from search_space.baselines import MANUAL_NAMES
from workers.methods.base import (
    DELTA_FIELDS,
    FINETUNE_FIELDS,
    SEARCH_PHASE_FIELDS,
    Found,
    Method,
    MethodSpec,
    UnknownMethodError,
)
from workers.methods.finetune import Finetune
from workers.methods.manual import Manual
from workers.methods.peft_adalora import PeftAdaLora
from workers.methods.peft_lora import PeftLora
from workers.methods.random_mask import RandomMaskMethod
from workers.methods.random_structure import RandomStructure
from workers.methods.registry import (
    applies_to,
    method_fields,
    method_help,
    parse_method,
    register,
    registered,
    structure_file,
    unregister,
    with_structure_file,
)
from workers.methods.s3delta import S3Delta
from workers.methods.transfer import Transfer
from workers.methods.uniform import Uniform

register(S3Delta())
register(RandomStructure())
register(Finetune())
register(Manual())
register(PeftAdaLora())
register(PeftLora())
register(Transfer())
register(Uniform())
register(RandomMaskMethod())

# the method the project is about, and the control it is compared with
SEARCHED_METHOD = S3Delta.family
RANDOM_METHOD = RandomStructure.family
FINETUNE_METHOD = Finetune.family

__all__ = [
    "DELTA_FIELDS",
    "FINETUNE_FIELDS",
    "FINETUNE_METHOD",
    "MANUAL_NAMES",
    "RANDOM_METHOD",
    "SEARCHED_METHOD",
    "SEARCH_PHASE_FIELDS",
    "Found",
    "Method",
    "MethodSpec",
    "UnknownMethodError",
    "applies_to",
    "method_fields",
    "method_help",
    "parse_method",
    "register",
    "registered",
    "structure_file",
    "unregister",
    "with_structure_file",
]
