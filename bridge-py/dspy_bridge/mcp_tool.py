"""ReAct tools served by an MCP server (streamable HTTP), declared by name in the definition.

The server lists the tools when the definition is written (`list_mcp_tools`, here, in the worker:
the connection goes through the egress guard), and stores each tool's description and input schema
in the normalized program. A run builds them with DSPy's `convert_mcp_tool` (dspy.Tool.from_mcp_tool)
over a client that connects for each call, with the headers the definition names (${NAME} secrets
come with the request, as for HTTP tools), so no connection outlives a call.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import dspy
import httpx2
from dspy.utils.mcp import convert_mcp_tool
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Tool as McpTool

from .errors import BridgeError, bad_message, register_secret
from .run_context import current

TIMEOUT_S = 30.0
MAX_TOOLS = 256
_SECRET = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _headers(headers: dict[str, str], secrets: dict[str, str], where: str) -> dict[str, str]:
    def secret(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in secrets:
            raise BridgeError("TOOL_ERROR", "worker", f"{where}: the secret {name} was not sent with this request", False)
        return secrets[name]

    return {key: _SECRET.sub(secret, value) for key, value in headers.items()}


async def _with_session(url: str, headers: dict[str, str], use: Any) -> Any:
    async with httpx2.AsyncClient(headers=headers, timeout=TIMEOUT_S) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await use(session)


def list_tools(payload: dict[str, Any]) -> dict[str, Any]:
    """The `list_mcp_tools` command: `{url, headers?, secrets?}` → `{tools: [{name, description, input_schema}]}`."""
    url, headers, secrets = payload.get("url"), payload.get("headers") or {}, payload.get("secrets") or {}
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise bad_message("payload.url must be an http(s) URL", path="payload.url")
    if not isinstance(headers, dict) or not isinstance(secrets, dict):
        raise bad_message("payload.headers and payload.secrets must be objects", path="payload.headers")
    for value in secrets.values():
        register_secret(value)

    async def tools(session: ClientSession) -> Any:
        return (await session.list_tools()).tools

    try:
        listed = asyncio.run(_with_session(url, _headers(headers, secrets, url), tools))
    except BridgeError:
        raise
    except Exception as exc:
        from .errors import from_run_exception

        cause = from_run_exception(exc)
        if cause.code == "LM_EGRESS_REFUSED":
            raise cause from None
        raise BridgeError("TOOL_ERROR", "worker", f"could not list the tools of the MCP server {url}: {type(exc).__name__}: {exc}"[:1000], False) from None
    return {"tools": [{"name": t.name, "description": t.description or "", "input_schema": t.input_schema} for t in listed[:MAX_TOOLS]]}


class _PerCallSession:
    """What convert_mcp_tool calls `call_tool` on: a fresh connection per call, with the run's secrets."""

    def __init__(self, url: str, headers: dict[str, str], name: str) -> None:
        self.url, self.headers, self.name = url, headers, name

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        headers = _headers(self.headers, current().secrets, f"tool '{self.name}'")

        async def call(session: ClientSession) -> Any:
            return await session.call_tool(name, arguments)

        return await _with_session(self.url, headers, call)


def mcp_tool(server: dict[str, Any], listed: dict[str, Any]) -> dspy.Tool:
    """One tool of an MCP server (`server`: url, headers; `listed`: name, description, inputSchema as listed)."""
    tool = McpTool(name=listed["name"], description=listed["description"], input_schema=listed["inputSchema"])
    return convert_mcp_tool(_PerCallSession(server["url"], server.get("headers", {}), listed["name"]), tool)
