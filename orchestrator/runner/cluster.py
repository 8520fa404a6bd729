"""Connecting the driver to Ray: an embedded single-machine Ray, or an existing cluster.

Rule: `--address` wins; else `RAY_ADDRESS` (which `ray job submit` sets for the job's
driver); else a fresh embedded Ray on this machine. The embedded case passes
`address="local"` on purpose: a bare `ray.init()` would silently join whatever
cluster `ray start` left running on this machine (another user's, another test's).

Authentication: Ray 2.60 reads `RAY_AUTH_MODE` (`disabled` or `token`) from the
environment of every process; the head (`ray start`), `ray job submit` and the
driver must agree. With `token`, the token comes from `RAY_AUTH_TOKEN`,
`RAY_AUTH_TOKEN_PATH` or `~/.ray/auth_token`. An embedded Ray with the mode unset
creates a local token itself. See docs/cluster.md.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import ray

from orchestrator.runner.loopback import check_node_ip, embedded_binding


@dataclass(frozen=True)
class RayConnection:
    """How this driver reached Ray, for logs and the parent run's tags."""

    mode: str  # "embedded" or "cluster"
    address: str
    owned: bool  # whether this process started Ray (and so must shut it down)
    resources: dict[str, float]


def connect_ray(address: str | None = None) -> RayConnection:
    """Join the cluster at `address`/`RAY_ADDRESS`, or start an embedded Ray."""
    if ray.is_initialized():
        return RayConnection("existing", "", False, dict(ray.cluster_resources()))
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        check_reachable(target)
        ctx = ray.init(address=target, logging_level=logging.WARNING)
        mode, owned = "cluster", False
    else:
        with embedded_binding() as node_address:  # 127.0.0.1 unless asked otherwise
            ctx = ray.init(
                address="local",
                include_dashboard=False,
                logging_level=logging.WARNING,
                **node_address,
            )
        check_node_ip(ctx)
        mode, owned = "embedded", True
    return RayConnection(
        mode,
        str(getattr(ctx, "address_info", {}).get("gcs_address", target or "local")),
        owned,
        dict(ray.cluster_resources()),
    )


def disconnect_ray(connection: RayConnection) -> None:
    """Shut Ray down when this process owns it; just detach from a shared cluster."""
    if connection.mode != "existing" and ray.is_initialized():
        ray.shutdown()


class ClusterResourceError(RuntimeError):
    """A trial shape the cluster can never schedule; one line with the fix."""


class ClusterUnreachableError(ClusterResourceError):
    """Nothing answers at the Ray address (Ray itself would retry for minutes)."""


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Refuse a `host:port` address where no TCP connection can be made, in one line."""
    import socket

    if "://" in address or address in ("auto", "local"):
        return  # ray:// clients and discovery: Ray reports those itself
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ClusterUnreachableError(
            f"--address/RAY_ADDRESS {address}: no Ray head answers there ({reason}); start "
            "the head (`ray start --head --port ...`) or fix the address"
        ) from None


def local_resources() -> dict[str, float]:
    """What an embedded Ray on this machine would offer, without starting it."""
    cpus = float(
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    try:
        import torch

        gpus = float(torch.cuda.device_count())
    except Exception:  # no torch or a broken CUDA setup: no usable GPU
        gpus = 0.0
    return {"CPU": cpus, "GPU": gpus}


def check_resources(
    connection: RayConnection, cpus_per_trial: float, gpus_per_trial: float
) -> None:
    """Refuse at once a trial shape the cluster can never schedule (instead of hanging)."""
    cpus = connection.resources.get("CPU", 0.0)
    gpus = connection.resources.get("GPU", 0.0)
    where = (
        f"the Ray cluster at {connection.address}"
        if connection.mode == "cluster" and connection.address
        else "this machine"
    )
    if gpus_per_trial > 0 and gpus_per_trial > gpus:
        raise ClusterResourceError(
            f"resources.gpus_per_trial: {gpus_per_trial:g} GPU(s) per trial, but {where} has "
            f"{gpus:g}; set gpus_per_trial: 0, or join a cluster with GPUs (--address)"
        )
    if cpus_per_trial > cpus:
        raise ClusterResourceError(
            f"resources.cpus_per_trial: {cpus_per_trial:g} CPUs per trial, but {where} has "
            f"{cpus:g}; lower cpus_per_trial to at most {cpus:g}, or join a larger cluster"
        )
