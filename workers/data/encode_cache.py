"""Tokenise once per sweep: encoded tensors cached on disk and shared by a sweep's trials.

An entry is a pair of files in the cache folder (the runner puts it next to the sweep's
runs): ``<task>-<split>-<key>.safetensors`` with the tensors and ``.json`` with what the
key was made of plus the SHA-256 of the tensor file. Never pickle: safetensors and JSON.

The key hashes everything that changes the tensors: the encoder kind (encoder or T5),
the exact examples (their text, labels and order, so the task, split, protocol, seed and
caps are all in it), the maximum length, the tokenizer (its class, and its full
serialised vocabulary and rules) and the cache format version. An entry whose tensor
file does not match its recorded hash, cannot be read, or disagrees with the examples
is rebuilt; writes go to a temporary file renamed into place, so concurrent trials
writing the same entry never leave a torn file.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from workers.data.examples import Example
from workers.names import safe_name

CACHE_FORMAT = 1
Encoder = Callable[[Sequence[Example]], dict[str, torch.Tensor]]

_TOKENIZER_IDS: dict[int, tuple[Any, str]] = {}


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """SHA-256 over the tokenizer's class, special tokens, settings and full serialisation."""
    cached = _TOKENIZER_IDS.get(id(tokenizer))
    if cached is not None and cached[0] is tokenizer:
        return cached[1]
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    settings = {
        "special": {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())},
        "padding_side": getattr(tokenizer, "padding_side", None),
        "truncation_side": getattr(tokenizer, "truncation_side", None),
        "do_lower_case": getattr(tokenizer, "do_lower_case", None),
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    digest = h.hexdigest()
    _TOKENIZER_IDS[id(tokenizer)] = (tokenizer, digest)
    return digest


def examples_digest(examples: Sequence[Example]) -> str:
    h = hashlib.sha256()
    for example in examples:
        h.update(json.dumps(asdict(example), sort_keys=True, default=list).encode())
        h.update(b"\n")
    return h.hexdigest()


def cache_key(
    *, encoder_kind: str, task: str, examples: Sequence[Example], max_length: int, tokenizer: Any
) -> dict[str, Any]:
    """The parts of a key (recorded in the entry's JSON) and its digest under ``key``."""
    parts: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "encoder": encoder_kind,
        "task": task,
        "max_length": max_length,
        "n_examples": len(examples),
        "examples_sha256": examples_digest(examples),
        "tokenizer": type(tokenizer).__name__,
        "tokenizer_sha256": tokenizer_fingerprint(tokenizer),
    }
    parts["key"] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return parts


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _slug(text: str) -> str:
    return safe_name(text, keep="", sep="-", strip="-", limit=40, fallback="x")


class EncodeCache:
    """A folder of cached encodings; ``None`` as folder disables caching (encode every time)."""

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder else None
        self.hits = 0
        self.rebuilt = 0  # entries found corrupt and written again

    def paths(self, parts: dict[str, Any], split: str) -> tuple[Path, Path]:
        assert self.folder is not None
        stem = f"{_slug(parts['task'])}-{_slug(split)}-{parts['key'][:24]}"
        return self.folder / f"{stem}.safetensors", self.folder / f"{stem}.json"

    def encode(
        self,
        encode: Encoder,
        examples: Sequence[Example],
        *,
        split: str,
        encoder_kind: str,
        task: str,
        max_length: int,
        tokenizer: Any,
    ) -> dict[str, torch.Tensor]:
        """The cached tensors for these examples, encoding (and caching) them if needed."""
        if self.folder is None:
            return encode(examples)
        parts = cache_key(
            encoder_kind=encoder_kind,
            task=task,
            examples=examples,
            max_length=max_length,
            tokenizer=tokenizer,
        )
        tensors_path, meta_path = self.paths(parts, split)
        found = self._read(tensors_path, meta_path, parts)
        if found is not None:
            self.hits += 1
            return found
        if tensors_path.exists() or meta_path.exists():
            self.rebuilt += 1
        encoded = encode(examples)
        self._write(tensors_path, meta_path, parts, split, encoded)
        return encoded

    def _read(
        self, tensors_path: Path, meta_path: Path, parts: dict[str, Any]
    ) -> dict[str, torch.Tensor] | None:
        from safetensors.torch import load_file

        if not (tensors_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("key") != parts["key"] or meta.get("sha256") != _file_sha256(tensors_path):
                return None
            tensors = load_file(str(tensors_path))
        except Exception:  # unreadable JSON or tensors: a corrupt entry, rebuilt by the caller
            return None
        index = tensors.get("example_index")
        if index is None or len(index) != parts["n_examples"]:
            return None
        return tensors

    def _write(
        self,
        tensors_path: Path,
        meta_path: Path,
        parts: dict[str, Any],
        split: str,
        encoded: dict[str, torch.Tensor],
    ) -> None:
        from safetensors.torch import save_file

        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:8]
        tmp_tensors = tensors_path.with_name(f"{tensors_path.name}.{token}.tmp")
        tmp_meta = meta_path.with_name(f"{meta_path.name}.{token}.tmp")
        save_file({k: v.contiguous() for k, v in encoded.items()}, str(tmp_tensors))
        meta = {**parts, "split": split, "sha256": _file_sha256(tmp_tensors)}
        tmp_meta.write_text(json.dumps(meta, indent=2))
        os.replace(tmp_tensors, tensors_path)
        os.replace(tmp_meta, meta_path)
