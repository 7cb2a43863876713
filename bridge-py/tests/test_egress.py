"""The egress policy on resolved addresses (dspy_bridge/egress.py), and its error on the wire."""

from __future__ import annotations

import socket

import pytest

from dspy_bridge import egress
from dspy_bridge.errors import from_run_exception


@pytest.fixture(autouse=True)
def no_allowance():
    egress.configure([])
    yield
    egress.configure([])


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fd00:ec2::254", "fe80::1", "::ffff:169.254.169.254", "::ffff:127.0.0.1"],
)
def test_loopback_private_link_local_and_mapped_addresses_are_refused(address):
    assert egress.refusal("example.test", address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address):
    assert egress.refusal("example.test", address) is None


def test_the_operator_allow_list_admits_ranges_and_names():
    egress.configure(["127.0.0.0/8", "llm.internal"])
    assert egress.refusal("x", "127.0.0.1") is None
    assert egress.refusal("x", "::ffff:127.0.0.1") is None
    assert egress.refusal("x", "10.0.0.1") is not None
    assert egress.refusal("LLM.internal.", "10.0.0.1") is None


def test_the_guard_checks_what_a_name_resolves_to_and_the_error_is_not_retriable(monkeypatch):
    monkeypatch.setattr(egress, "_original_getaddrinfo", lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))])
    with pytest.raises(egress.EgressRefused) as refused:
        egress.guarded_getaddrinfo("metadata.attacker.test", 80)
    assert "169.254.169.254" in str(refused.value)
    # As the LM client raises it: wrapped in its own connection error.
    try:
        try:
            raise refused.value
        except OSError as inner:
            raise ConnectionError("Connection error.") from inner
    except ConnectionError as outer:
        error = from_run_exception(outer)
    assert (error.code, error.layer, error.retriable) == ("LM_EGRESS_REFUSED", "lm", False)
