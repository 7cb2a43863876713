"""MCP tools: listed from a real MCP server (streamable HTTP), then called by a ReAct agent."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import program_of
from dspy_bridge.errors import BridgeError
from dspy_bridge.mcp_tool import list_tools
from dspy_bridge.runner import run_program

TOKEN = "mcp-token-0123456789"


@pytest.fixture(scope="module")
def mcp_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("mcp_server.py")), str(port)], env={"MCP_TEST_TOKEN": TOKEN, "PATH": ""})
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the MCP test server did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp"
    server.terminate()
    server.wait(10)


def test_lists_the_servers_tools_with_the_secret_header(mcp_url):
    listed = list_tools({"url": mcp_url, "headers": {"Authorization": "Bearer ${MCP_TOKEN}"}, "secrets": {"MCP_TOKEN": TOKEN}})
    by_name = {t["name"]: t for t in listed["tools"]}
    assert set(by_name) == {"convert_c_to_f", "shout"}
    assert by_name["shout"]["description"] == "Upper-cases a text."
    assert by_name["convert_c_to_f"]["input_schema"]["properties"]["celsius"]["type"] == "number"


def test_a_server_that_refuses_is_a_tool_error_naming_it(mcp_url):
    with pytest.raises(BridgeError) as raised:
        list_tools({"url": mcp_url, "headers": {"Authorization": "Bearer wrong"}})
    assert raised.value.code == "TOOL_ERROR" and mcp_url in raised.value.message


def test_react_calls_an_mcp_tool_through_dspy(registry, mcp_url):
    listed = {t["name"]: t for t in list_tools({"url": mcp_url, "headers": {"Authorization": "Bearer ${MCP_TOKEN}"}, "secrets": {"MCP_TOKEN": TOKEN}})["tools"]}
    program = program_of({
        "inputs": {"question": "str"},
        "modules": {"agent": {"type": "ReAct", "signature": "question -> answer", "tools": [{"mcp": {"url": mcp_url, "tools": ["convert_c_to_f"], "headers": {"Authorization": "Bearer ${MCP_TOKEN}"}}}]}},
        "forward": [{"call": "agent", "with": {"question": "$input.question"}, "as": "a"}, {"return": {"answer": "$a.answer"}}],
    })
    # What the server fills in when the definition is written.
    [entry] = program["modules"]["agent"]["tools"][0]["mcp"]["tools"]
    entry.update(description=listed["convert_c_to_f"]["description"], inputSchema=listed["convert_c_to_f"]["input_schema"])
    defined = registry.define_program("mcp-v", "h", program)
    registry.configure_lm("lm", {"model": "dummy", "answers": [
        {"next_thought": "Convert it.", "next_tool_name": "convert_c_to_f", "next_tool_args": '{"celsius": 100}'},
        {"next_thought": "Done.", "next_tool_name": "finish", "next_tool_args": "{}"},
        {"reasoning": "The tool said 212.", "answer": "212 F"},
    ]})
    result = run_program(defined, registry.lm("lm"), {"question": "100 C in F?"}, secrets={"MCP_TOKEN": TOKEN})
    assert result["outputs"] == {"answer": "212 F"}
    call = result["trace"][0]["tool_calls"][0]
    assert (call["tool"], call["args"]) == ("convert_c_to_f", {"celsius": 100})
    assert "212" in str(call["result"])
