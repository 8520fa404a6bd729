"""Keeping an embedded Ray on 127.0.0.1: nothing of a one-machine sweep listens outside.

An embedded Ray on Linux binds its GCS, raylet, workers and agents to the machine's
network address, and some of them to every interface, even when `ray.init` is given
`_node_ip_address="127.0.0.1"`: Ray 2.60 replaces a loopback address with the address
it sees towards the network (`services.resolve_ip_for_localhost`) unless
`ray_constants.ENABLE_RAY_CLUSTER` is off, which it is only on macOS and Windows (or
with `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` set before Ray is imported). So for the
time of `ray.init` that flag is switched off in this process: Ray then takes
127.0.0.1 as the node address and every process it starts binds there. The flag is
restored afterwards, so a later connection to a real cluster from the same process
is unaffected.

`S3DELTA_RAY_NODE_IP=<address>` asks for another address (e.g. so that other machines
can join the embedded head); nothing is switched then.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

NODE_IP_ENV = "S3DELTA_RAY_NODE_IP"
LOOPBACK = "127.0.0.1"
_LOG = logging.getLogger(__name__)


def embedded_node_ip() -> str:
    """The address the embedded Ray should use: loopback unless the user set another."""
    return os.environ.get(NODE_IP_ENV, "").strip() or LOOPBACK


@contextmanager
def embedded_binding() -> Iterator[dict[str, Any]]:
    """`ray.init` keyword arguments for the node address, valid inside the block."""
    address = embedded_node_ip()
    if address not in (LOOPBACK, "localhost"):
        yield {"_node_ip_address": address}
        return
    from ray._private import ray_constants

    previous = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False  # keeps 127.0.0.1 from being "resolved" away
    try:
        yield {"_node_ip_address": LOOPBACK}
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous


def check_node_ip(context: Any) -> None:
    """Log loudly when Ray ended up on another address than asked (a Ray upgrade)."""
    info = getattr(context, "address_info", {}) or {}
    got = info.get("node_ip_address")
    wanted = embedded_node_ip()
    if got and wanted in (LOOPBACK, "localhost") and got != LOOPBACK:
        _LOG.warning(
            "embedded Ray runs on %s, not on %s as asked; its ports may be reachable from "
            "the network (set %s or use a firewall)",
            got,
            LOOPBACK,
            NODE_IP_ENV,
        )
