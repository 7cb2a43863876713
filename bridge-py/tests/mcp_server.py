"""A small MCP server (streamable HTTP) for the tests: `python tests/mcp_server.py <port>`.

It checks the Authorization header when MCP_TEST_TOKEN is set (401 otherwise) and echoes it in `whoami`.
"""

import os
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("unit-tools")


@server.tool()
def convert_c_to_f(celsius: float) -> float:
    """Converts a temperature from Celsius to Fahrenheit."""
    return celsius * 9 / 5 + 32


@server.tool()
def shout(text: str) -> str:
    """Upper-cases a text."""
    return text.upper()


if __name__ == "__main__":
    app = server.streamable_http_app()
    token = os.environ.get("MCP_TEST_TOKEN")
    if token:
        from starlette.middleware.base import BaseHTTPMiddleware
        from starlette.responses import PlainTextResponse

        async def check(request, call_next):
            if request.headers.get("authorization") != f"Bearer {token}":
                return PlainTextResponse("unauthorized", status_code=401)
            return await call_next(request)

        app.add_middleware(BaseHTTPMiddleware, dispatch=check)
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
