"""One builder per module type of the catalog (catalog.json): a normalized module spec → a dspy.Module.

What a type takes (options and their defaults, the outputs it adds, its predictors) is the catalog's;
the server validated and filled it in. A builder only maps it onto DSPy's class. The names of the
attributes below are what `named_predictors()` (and so optimizers and dump_state) call them, and are
listed in the catalog's `predictors`.
"""

from __future__ import annotations

from typing import Any, Callable

import dspy

from .catalog import MODULE_TYPES
from .errors import BridgeError
from .dependencies import program_tool, reward_function
from .http_tool import http_tool
from .mcp_tool import mcp_tool
from .signatures import annotation, build_signature

Builder = Callable[[dict[str, Any]], dspy.Module]


class MultiChainComparisonModule(dspy.Module):
    """M ChainOfThought attempts, then DSPy's MultiChainComparison over them (it takes the attempts as `completions`)."""

    def __init__(self, signature: type[dspy.Signature], M: int, temperature: float) -> None:  # noqa: N803 (DSPy's name)
        super().__init__()
        self.M = M
        self.temperature = temperature
        self.attempt = dspy.ChainOfThought(signature)
        self.compare = dspy.MultiChainComparison(signature, M=M, temperature=temperature)

    def forward(self, **kwargs: Any) -> dspy.Prediction:
        # A rollout id per attempt: distinct samples, not M copies of one cached answer.
        completions = [self.attempt(**kwargs, config={"rollout_id": i, "temperature": self.temperature}) for i in range(self.M)]
        return self.compare(completions=completions, **kwargs)


def _traced(cls: type[dspy.Module]) -> type[dspy.Module]:
    """BestOfN / Refine whose attempts count as the wrapped module's in DSPy's trace.

    DSPy 3.4.1 runs each attempt on a deep copy of the wrapped module and adds the best attempt's
    trace to dspy.settings.trace: entries of the copy's predictor, which optimizers bootstrapping from
    traces (BootstrapFewShot…) cannot map to a predictor of the program, so they learn nothing. The
    wrapped module here is a Predict or a ChainOfThought (one predictor, the catalog's `wraps`): its
    copy's entries are put back on the original.
    """

    class Traced(cls):  # type: ignore[misc, valid-type]
        def forward(self, **kwargs: Any) -> Any:
            trace = dspy.settings.trace
            start = len(trace) if trace is not None else 0
            result = super().forward(**kwargs)
            if trace is not None:
                [(_, original)] = self.module.named_predictors()
                for i in range(start, len(trace)):
                    predictor, inputs, outputs = trace[i]
                    if predictor is not original and predictor.signature.equals(original.signature):
                        trace[i] = (original, inputs, outputs)
            return result

    Traced.__name__ = Traced.__qualname__ = cls.__name__
    return Traced


TracedBestOfN = _traced(dspy.BestOfN)
TracedRefine = _traced(dspy.Refine)


def _wrapped(spec: dict[str, Any]) -> dspy.Module:
    inner = spec["config"]["module"]
    return MODULE_BUILDERS[inner]({**spec, "type": inner, "config": {}})


def _tools(spec: dict[str, Any]) -> list[dspy.Tool]:
    tools = []
    for tool in spec["tools"]:
        if "mcp" in tool:
            tools.extend(mcp_tool(tool["mcp"], listed) for listed in tool["mcp"]["tools"])
            continue
        args = {name: field["type"] for name, field in tool["args"].items()}
        func = program_tool(tool["program"], tool["name"]) if "program" in tool else http_tool(tool["http"], tool["name"])
        tools.append(
            dspy.Tool(
                func,
                name=tool["name"],
                desc=tool["description"],
                args={name: _json_schema(t) for name, t in args.items()},
                arg_types={name: annotation(t) for name, t in args.items()},
            )
        )
    return tools


def _json_schema(field_type: Any) -> dict[str, Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(annotation(field_type)).json_schema()


def _retrieve(spec: dict[str, Any]) -> dspy.Module:
    from .retrieve import RetrieveModule

    return RetrieveModule(spec["corpus"]["corpusId"], spec["config"]["k"])


def _program_of_thought(spec: dict[str, Any]) -> dspy.Module:
    import warnings

    from .sandbox import SandboxInterpreter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # DSPy 3.4 points at RLM; PoT is what the issue asks for
        return dspy.ProgramOfThought(build_signature(spec["signature"]), max_iters=spec["config"]["max_iters"], interpreter_factory=SandboxInterpreter)


def _colbert(spec: dict[str, Any]) -> dspy.Module:
    from .retrieve import ColBERTv2Module

    return ColBERTv2Module(spec["url"], spec["config"]["k"])


MODULE_BUILDERS: dict[str, Builder] = {
    "Predict": lambda spec: dspy.Predict(build_signature(spec["signature"])),
    "ChainOfThought": lambda spec: dspy.ChainOfThought(build_signature(spec["signature"])),
    "MultiChainComparison": lambda spec: MultiChainComparisonModule(build_signature(spec["signature"]), spec["config"]["M"], spec["config"]["temperature"]),
    "BestOfN": lambda spec: TracedBestOfN(_wrapped(spec), N=spec["config"]["N"], reward_fn=reward_function(spec["reward"]), threshold=spec["config"]["threshold"]),
    "Refine": lambda spec: TracedRefine(_wrapped(spec), N=spec["config"]["N"], reward_fn=reward_function(spec["reward"]), threshold=spec["config"]["threshold"]),
    "ReAct": lambda spec: dspy.ReAct(build_signature(spec["signature"]), tools=_tools(spec), max_iters=spec["config"]["max_iters"]),
    "ProgramOfThought": _program_of_thought,
    "Retrieve": _retrieve,
    "ColBERTv2": _colbert,
}

# The table and the catalog list the same types: a type in one and not the other is a bug, found at import.
assert set(MODULE_BUILDERS) == set(MODULE_TYPES), f"module builders {sorted(MODULE_BUILDERS)} != catalog {sorted(MODULE_TYPES)}"


def build_module(name: str, spec: dict[str, Any]) -> dspy.Module:
    builder = MODULE_BUILDERS.get(spec["type"])
    if builder is None:
        reason = f"unknown module type '{spec['type']}' (this worker builds {', '.join(MODULE_BUILDERS)})"
        raise BridgeError("INVALID_DEFINITION", "validation", f"definition.modules.{name}.type: {reason}", False, {"issues": [{"path": f"definition.modules.{name}.type", "reason": reason}]})
    return builder(spec)
