"""A ReAct tool that is an HTTP call, declared in the definition (never code).

`{arg}` in the URL's path and query is replaced by the URL-encoded argument; a body string that is
exactly "{arg}" becomes the argument's JSON value, and "{arg}" inside a longer string its text.
Header values may name secrets as ${NAME}: the server reads them from its environment under the
secret policy (LM_SECRET_ENV_ALLOW) and sends their values with the request (run_context.secrets);
the worker's own environment is never read, and the values are redacted from every frame it sends. Connections go through the
worker's egress guard (egress.py), the same policy as LM requests. Redirects are not followed.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any, Callable

import httpx

from .errors import BridgeError
from .run_context import current

TIMEOUT_S = 15.0
MAX_RESPONSE_BYTES = 256 * 1024
_PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")
_SECRET = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill_url(template: str, args: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: urllib.parse.quote(_text(args.get(m.group(1), "")), safe=""), template)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _fill_body(template: Any, args: dict[str, Any]) -> Any:
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            return args.get(whole.group(1))
        return _PLACEHOLDER.sub(lambda m: _text(args.get(m.group(1), "")), template)
    if isinstance(template, list):
        return [_fill_body(item, args) for item in template]
    if isinstance(template, dict):
        return {key: _fill_body(value, args) for key, value in template.items()}
    return template


def _header(value: str, tool: str) -> str:
    secrets = current().secrets

    def secret(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in secrets:
            raise BridgeError("TOOL_ERROR", "worker", f"tool '{tool}': the secret {name} was not sent with this request", False)
        return secrets[name]

    return _SECRET.sub(secret, value)


def _at(value: Any, path: str) -> Any:
    for key in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def http_tool(spec: dict[str, Any], name: str) -> Callable[..., Any]:
    def call(**kwargs: Any) -> Any:
        headers = {key: _header(value, name) for key, value in spec.get("headers", {}).items()}
        request: dict[str, Any] = {"headers": headers}
        if "body" in spec:
            request["json"] = _fill_body(spec["body"], kwargs)
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
            with client.stream(spec["method"], _fill_url(spec["url"], kwargs), **request) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise BridgeError("TOOL_ERROR", "worker", f"tool '{name}': the response is over {MAX_RESPONSE_BYTES} bytes", False)
        if response.status_code >= 400:
            return f"HTTP {response.status_code}: {body[:500].decode('utf-8', 'replace')}"
        try:
            data = json.loads(body)
        except ValueError:
            return body.decode("utf-8", "replace")
        return _at(data, spec.get("response", ""))

    call.__name__ = name
    return call
