"""Random masking: train a random subset of the backbone's own weights, exactly the budget.

Xu & Zhang (ICML 2024, "Random Masking Finds Winning Tickets for Parameter Efficient
Fine-tuning") found that training a random subset of a model's weights, with a larger
learning rate, matches LoRA down to about 0.005% of the parameters. It is the cheapest
strong baseline a searched structure has to beat.

- The pool is every backbone parameter except embedding tables (`nn.Embedding` weights,
  and any weight tied to one, such as T5's LM head): a random index into a 30k-row
  vocabulary table almost always lands on a token that the task never shows, so the
  budget would go to weights that never receive a gradient.
- The mask is ``budget`` distinct positions drawn uniformly from the pool's flattened
  elements by `random.Random(f"random-mask:{seed}")`, stable across platforms; it is
  identified by the SHA-256 of its (parameter name, flat index) list.
- Training keeps every other element exactly at its pretrained value: the gradient is
  multiplied by the mask (a hook), weight decay is 0 for these tensors, and Adam's update
  of an element whose gradient was always 0 is exactly 0.
- The native form is the backbone with the trained values written in: a plain
  transformers checkpoint. `mask_tensors`/`apply_mask_tensors` carry only the masked
  values (indices and trained values), so the small file can be shipped instead.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class RandomMask:
    """Flat indices per parameter name (sorted), and how many elements the pool had."""

    indices: dict[str, list[int]]
    pool_size: int
    seed: int

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.indices.values())

    @property
    def digest(self) -> str:
        """SHA-256 of the sorted (name, index) pairs: the mask's identity in a record."""
        h = hashlib.sha256()
        for name in sorted(self.indices):
            for i in self.indices[name]:
                h.update(f"{name}:{i};".encode())
        return h.hexdigest()


def mask_pool(backbone: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The backbone's parameters a mask may draw from, in `named_parameters` order."""
    embedding = {id(m.weight) for m in backbone.modules() if isinstance(m, nn.Embedding)}
    return [(n, p) for n, p in backbone.named_parameters() if id(p) not in embedding]


def draw_mask(backbone: nn.Module, count: int, seed: int) -> RandomMask:
    """``count`` distinct elements of the pool, uniformly at random (seeded)."""
    pool = mask_pool(backbone)
    sizes = [p.numel() for _, p in pool]
    total = sum(sizes)
    if not 0 < count <= total:
        raise ValueError(f"random mask of {count} elements from a pool of {total}")
    picks = sorted(random.Random(f"random-mask:{seed}").sample(range(total), count))
    indices: dict[str, list[int]] = {}
    start, k = 0, 0
    for (name, _), size in zip(pool, sizes, strict=True):
        end = start + size
        while k < len(picks) and picks[k] < end:
            indices.setdefault(name, []).append(picks[k] - start)
            k += 1
        start = end
    return RandomMask(indices, total, seed)


def train_masked(backbone: nn.Module, mask: RandomMask) -> list[nn.Parameter]:
    """Make only the masked elements trainable: the tensors they sit in get
    ``requires_grad`` and a hook that zeroes every other element's gradient. Returns
    those tensors (train them with weight decay 0)."""
    params = dict(backbone.named_parameters())
    trained = []
    for p in backbone.parameters():
        p.requires_grad_(False)
    for name, flat in mask.indices.items():
        p = params[name]
        keep = torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
        keep[torch.tensor(flat, dtype=torch.long, device=p.device)] = 1
        keep = keep.view_as(p)
        p.requires_grad_(True)
        p.register_hook(lambda g, keep=keep: g * keep.to(g.device))
        trained.append(p)
    return trained


MASK_PREFIX = "mask."  # tensors "mask.<parameter>.indices" / ".values" in the file


def mask_tensors(backbone: nn.Module, mask: RandomMask) -> dict[str, torch.Tensor]:
    """The trained values at the mask, as ``mask.<name>.indices`` (int64, flat) and
    ``mask.<name>.values`` tensors: what `apply_mask_tensors` writes back."""
    params = dict(backbone.named_parameters())
    out: dict[str, torch.Tensor] = {}
    for name, flat in mask.indices.items():
        idx = torch.tensor(flat, dtype=torch.long)
        out[f"{MASK_PREFIX}{name}.indices"] = idx
        out[f"{MASK_PREFIX}{name}.values"] = params[name].detach().cpu().reshape(-1)[idx].clone()
    return out


def apply_mask_tensors(backbone: nn.Module, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """Write `mask_tensors` into a pretrained ``backbone`` (in place): the native model,
    a plain transformers model that ``save_pretrained`` can write."""
    params = dict(backbone.named_parameters())
    names = [k[len(MASK_PREFIX) : -len(".indices")] for k in tensors if k.endswith(".indices")]
    with torch.no_grad():
        for name in names:
            if name not in params:
                raise KeyError(f"{name}: not a parameter of this backbone; load the same model")
            flat = params[name].view(-1)
            idx = tensors[f"{MASK_PREFIX}{name}.indices"].to(flat.device)
            flat[idx] = tensors[f"{MASK_PREFIX}{name}.values"].to(flat.device, flat.dtype)
    return backbone


def changed_count(backbone: nn.Module, pretrained: nn.Module) -> int:
    """How many elements differ between two copies of a backbone (a check on a mask run)."""
    before = dict(pretrained.named_parameters())
    return sum(
        int((p.detach() != before[n].detach()).sum()) for n, p in backbone.named_parameters()
    )
