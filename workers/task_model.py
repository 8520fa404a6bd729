"""A backbone plus what a task needs on top: a pooled head for encoders, nothing for T5.

Encoders get a linear head on pooled features (``mean`` pooling by default: the MiniLM
checkpoint was trained with it, and a CLS probe is 13 points worse, spec section 8).
COPA inputs come as [N, 2, L] and are scored per alternative; MultiRC is binary per
answer. T5 is text-to-text, so its head is the backbone's own LM head (head size 0).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from workers.data import TaskSpec
from workers.token_packing import TokenPacking

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class TaskModel(nn.Module):
    """Backbone + optional head; ``deltas`` is registered here so ``.to(device)`` moves it."""

    def __init__(
        self,
        backbone: nn.Module,
        spec: TaskSpec,
        seq2seq: bool,
        pooling: str = "mean",
        precision: str = "fp32",
        pack_tokens: bool = True,
    ):
        super().__init__()
        self.backbone = backbone
        self.precision = precision
        self.spec = spec
        self.seq2seq = seq2seq
        self.pooling = pooling
        self.deltas: nn.Module | None = None
        self.head: nn.Linear | None = None
        # set as a plain attribute (not a submodule): it holds no parameters
        self.packing = TokenPacking(backbone) if pack_tokens and not seq2seq else None
        if not seq2seq:
            hidden = int(backbone.config.hidden_size)  # type: ignore[union-attr,arg-type]
            self.head = nn.Linear(hidden, spec.num_labels)

    def attach_deltas(self, deltas: nn.Module) -> None:
        self.deltas = deltas

    def head_params(self) -> int:
        return 0 if self.head is None else sum(p.numel() for p in self.head.parameters())

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)

    def _autocast(self, like: torch.Tensor) -> torch.autocast:
        """bf16 autocast for ``precision="bf16"`` (a no-op context for fp32)."""
        return torch.autocast(
            like.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Encoder outputs: [N, C] class logits, [N] regression scores or [N, 2] choice logits."""
        assert self.head is not None
        inputs = {k: v for k, v in batch.items() if k in MODEL_INPUTS}
        shape = inputs["input_ids"].shape
        if self.spec.kind == "choice":
            inputs = {k: v.reshape(-1, v.shape[-1]) for k, v in inputs.items()}
        packed = self.packing.active(inputs["attention_mask"]) if self.packing else nullcontext()
        with self._autocast(inputs["input_ids"]), packed:
            hidden = self.backbone(**inputs).last_hidden_state
            out = self.head(self._pool(hidden, inputs["attention_mask"]))
        out = out.float()
        if self.spec.kind == "choice":
            return out.view(shape[0], shape[1])
        if self.spec.kind == "regression":
            return out.squeeze(-1)
        return out

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.seq2seq:
            inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "labels")}
            with self._autocast(inputs["input_ids"]):
                return self.backbone(**inputs).loss.float()
        return self._loss_from_logits(self.logits(batch), batch)

    def _loss_from_logits(
        self, logits: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        if self.spec.kind == "regression":
            return F.mse_loss(logits, batch["labels"].float())
        return F.cross_entropy(logits, batch["labels"])

    def _from_logits(self, logits: torch.Tensor) -> list[Any]:
        if self.spec.kind == "regression":
            return logits.float().cpu().tolist()
        return logits.argmax(-1).cpu().tolist()

    @torch.no_grad()
    def loss_and_predict(
        self, batch: dict[str, torch.Tensor], tokenizer: Any = None
    ) -> tuple[torch.Tensor, list[Any]]:
        """Loss and predictions of one batch; one forward pass for encoders (the loss is
        taken from the same logits). T5 needs a teacher-forced pass for the loss and a
        generation pass for the label text, so it still takes two."""
        if self.seq2seq:
            return self.loss(batch), self.predict(batch, tokenizer)
        logits = self.logits(batch)
        return self._loss_from_logits(logits, batch), self._from_logits(logits)

    @torch.no_grad()
    def predict(self, batch: dict[str, torch.Tensor], tokenizer: Any = None) -> list[Any]:
        """Class ids / choice ids / scores for encoders; generated label texts for T5."""
        if self.seq2seq:
            out = self.backbone.generate(  # type: ignore[operator]
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                max_new_tokens=8,
            )
            return list(tokenizer.batch_decode(out, skip_special_tokens=True))
        return self._from_logits(self.logits(batch))
