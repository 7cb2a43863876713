"""Where LM requests may connect (PROTOCOL.md "LM config", `egress_allow`).

The blocked ranges are data the server reads too (egress.json). The check is on every address a
host name resolves to, at the moment a connection is made: `install()` wraps `socket.getaddrinfo`
for the whole worker process, so litellm/httpx connect only to addresses that passed it (no gap for
a DNS answer to change between a check and the connection). `configure()` sets the operator's allow
list (LM_EGRESS_ALLOW), which every `configure_lm` carries from the server.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

_DATA = json.loads((Path(__file__).with_name("egress.json")).read_text("utf-8"))
BLOCKED = tuple(ipaddress.ip_network(cidr) for cidr in _DATA["blocked"])
BLOCKED_HOST_SUFFIXES = tuple(_DATA["blockedHostSuffixes"])

_lock = threading.Lock()
_allowed_nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
_allowed_hosts: frozenset[str] = frozenset()
_original_getaddrinfo = socket.getaddrinfo
_installed = False
# Hosts the worker itself reaches on the operator's behalf (the OTLP collector, dspy_bridge/otel.py),
# allowed only inside `allowing()`, i.e. only on the exporter's own calls, never for an LM request.
_exempt_hosts: ContextVar[frozenset[str]] = ContextVar("dspy_bridge_egress_exempt", default=frozenset())


class EgressRefused(OSError):
    """A connection to an address the policy refuses; raised where the connection would start."""


def configure(allow: Any) -> None:
    """The operator's allow list: CIDRs, addresses and host names (lower case)."""
    global _allowed_nets, _allowed_hosts
    entries = [str(entry).strip().lower() for entry in (allow or []) if str(entry).strip()]
    nets, hosts = [], set()
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.rstrip("."))
    with _lock:
        _allowed_nets, _allowed_hosts = tuple(nets), frozenset(hosts)


@contextmanager
def allowing(host: str):  # type: ignore[no-untyped-def]
    """Connections to `host` pass the policy within this block (this thread and context only)."""
    token = _exempt_hosts.set(_exempt_hosts.get() | {host.lower().rstrip(".")})
    try:
        yield
    finally:
        _exempt_hosts.reset(token)


def refusal(host: str, address: str) -> str | None:
    """Why connecting to `address` (which `host` resolved to) is refused, or None."""
    name = host.lower().rstrip(".")
    if name in _allowed_hosts or name in _exempt_hosts.get():
        return None
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in _allowed_nets):
        return None
    if any(ip in net for net in BLOCKED if net.version == ip.version):
        return f"{host} resolves to {ip}, a loopback, private, link-local or reserved address; LM requests may not go there unless the operator allows it (LM_EGRESS_ALLOW)"
    if any(name == suffix or name.endswith("." + suffix) for suffix in BLOCKED_HOST_SUFFIXES):
        return f"{host} is this machine; LM requests may not go there unless the operator allows it (LM_EGRESS_ALLOW)"
    return None


def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
    results = _original_getaddrinfo(host, port, *args, **kwargs)
    if host is None:
        return results
    name = host.decode() if isinstance(host, bytes) else str(host)
    for result in results:
        sockaddr = result[4]
        if result[0] in (socket.AF_INET, socket.AF_INET6):
            reason = refusal(name, sockaddr[0])
            if reason:
                raise EgressRefused(reason)
    return results


def install() -> None:
    """Guards every name resolution of this process (the worker's main calls it once)."""
    global _installed
    with _lock:
        if not _installed:
            socket.getaddrinfo = guarded_getaddrinfo
            _installed = True
