"""A tiny Ray actor that carries progress events from trials to the driver and
prune decisions back.

Why: the trial runs in a Ray worker and cannot reach the driver's Optuna study or
MLflow client. Trials push their events here; the driver drains them (to report
intermediate dev scores to Optuna and to keep step metrics for MLflow) and marks
trials to stop when the pruner says so. The trial sees the stop flag on its next
push. The actor needs no CPU.
"""

from __future__ import annotations

from typing import Any


class ProgressHub:
    """Event mailbox keyed by trial key text; plain class so Ray can host it as an actor."""

    def __init__(self) -> None:
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._stop: set[str] = set()

    def push(self, key: str, events: list[dict[str, Any]]) -> bool:
        """Store a trial's events; answer whether that trial should stop (pruned)."""
        self._events.setdefault(key, []).extend(events)
        return key in self._stop

    def drain(self) -> dict[str, list[dict[str, Any]]]:
        """Hand every stored event to the driver and forget them."""
        events, self._events = self._events, {}
        return events

    def stop(self, key: str) -> None:
        """Ask the trial with this key to stop at its next push."""
        self._stop.add(key)

    def forget(self, key: str) -> None:
        """Drop the stop flag once the trial has ended."""
        self._stop.discard(key)
