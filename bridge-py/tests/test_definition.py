"""The Python port of the definition validator: same issues (path + reason) as TypeScript.

definition_cases.json holds what the TypeScript validator answered for each definition (the cases of
test/definition.test.ts, JavaScript corner cases, and 600 fuzzed definitions); regenerate it with
gen_definition_cases.mjs (see README.md) whenever src/programs/definition/ changes.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pydantic
import pytest

from dspy_bridge.definition import (
    check_value,
    format_field_type,
    infer_literal_type,
    parse_compact_signature,
    validate_definition,
    validate_program_definition,
    validate_program_inputs,
)
from dspy_bridge.definition.dspy_names import PYDANTIC_MEMBERS

CASES = json.loads((Path(__file__).parent / "fixtures" / "definition_cases.json").read_text())

# forward.ts formats the keys of a step that has neither 'call' nor 'return' with
# `Object.keys(step).map(quote)`, which passes each key's index as quote's `max` length, so it prints
# "it has '…', 'a…'". The Python port prints the keys; until TypeScript is fixed, compare up to there.
_TS_QUOTE_MAP_BUG = re.compile(r"^(step must have 'call' \(with 'with' and 'as'\) or 'return'; it has ).*$")


def _comparable(result: dict) -> dict:
    if result.get("ok"):
        return result
    issues = [{**i, "reason": _TS_QUOTE_MAP_BUG.sub(r"\1…", i["reason"])} for i in result["issues"]]
    return {"ok": False, "issues": issues}


def test_same_results_as_typescript_for_every_fixture_definition():
    mismatches = []
    for case in CASES["definitions"]:
        result = validate_program_definition(case["definition"])
        got = {"ok": True, "program": result.program} if result.ok else {"ok": False, "issues": result.issues}
        if _comparable(got) != _comparable(case["result"]):
            mismatches.append((case["name"], case["result"], got))
    assert not mismatches, f"{len(mismatches)} of {len(CASES['definitions'])} differ; first: {json.dumps(mismatches[0])[:3000]}"


def test_the_fixture_covers_valid_invalid_and_fuzzed_definitions():
    results = [c["result"]["ok"] for c in CASES["definitions"]]
    assert sum(results) >= 15 and results.count(False) >= 100
    assert sum(1 for c in CASES["definitions"] if c["name"].startswith("fuzz")) >= 500


def test_compact_signatures_match_typescript():
    for case in CASES["compact"]:
        parsed = parse_compact_signature(case["text"])
        got = (
            {"ok": True, "inputs": [{"name": n, "type": t} for n, t in parsed.inputs], "outputs": [{"name": n, "type": t} for n, t in parsed.outputs]}
            if parsed.ok
            else {"ok": False, "reasons": parsed.reasons}
        )
        assert got == case["result"], case["text"]


def test_value_checks_literal_inference_and_type_formatting_match_typescript():
    for case in CASES["check_value"]:
        assert check_value(case["value"], case["type"], "inputs.v") == case["issues"], case
    for case in CASES["infer_literal"]:
        inferred = infer_literal_type(case["value"])
        got = {"ok": True, "type": inferred.type} if inferred.ok else {"ok": False, "reason": inferred.reason}
        assert got == case["result"], case
    for case in CASES["format_field_type"]:
        assert format_field_type(case["type"]) == case["text"]


# A dozen invalid definitions spelled out, with the exact paths TypeScript reports for them.
INVALID = [
    (lambda d: d.update(version=2), "definition.version", "unknown key 'version' (expected inputs, modules, forward, description)"),
    (lambda d: d["inputs"].update({"my-field": "str"}), 'definition.inputs["my-field"]', "program input name 'my-field' is invalid: use a letter followed by letters, digits or _"),
    (lambda d: d["modules"].update({"class": d["modules"]["generate"]}), "definition.modules.class", "module name 'class' is a Python keyword"),
    (lambda d: d["forward"][0].update({"as": "named_predictors"}), "definition.forward[0].as", "step name 'named_predictors' would shadow dspy.Module.named_predictors"),
    (lambda d: d["modules"]["generate"].update(type="ReAct"), "definition.modules.generate.type", "unknown module type 'ReAct' (expected Predict or ChainOfThought)"),
    (lambda d: d["modules"]["generate"]["signature"]["outputs"].update(reasoning="str"), "definition.modules.generate.signature.outputs.reasoning", "'reasoning' is reserved: ChainOfThought adds its own 'reasoning' output"),
    (lambda d: d["modules"]["generate"].update(signature="context, question"), "definition.modules.generate.signature", "compact signature 'context, question' has no '->' (expected 'inputs -> outputs', e.g. 'question -> answer')"),
    (lambda d: d["inputs"].update(question={"type": "enum", "values": ["a", 1]}), "definition.inputs.question.values[1]", "enum value 1 is a number but the first value is a string; all values must be of one kind"),
    (lambda d: d["inputs"]["context"].update(type="list[list[list[list[list[str]]]]]"), "definition.inputs.context.type", "field type 'list[list[list[list[list[str]]]]]' nests lists deeper than 4 levels"),
    (lambda d: d["forward"].reverse(), "definition.forward[0]", "return must be the last step, but 1 step(s) follow it"),
    (lambda d: d["forward"][0]["with"].update(question="$gen.answer"), "definition.forward[0].with.question", "'$gen.answer' refers to this step's own result"),
    (lambda d: d["forward"][0]["with"].update(context="$input.question"), "definition.forward[0].with.context", "'$input.question' is str but generate.context expects list[str]"),
    (lambda d: d["forward"][0]["with"].update(context=["a", 1]), "definition.forward[0].with.context[1]", "literal for generate.context: expected str, got number 1"),
    (lambda d: d["forward"][1]["return"].update(answer="$gen.summary"), "definition.forward[1].return.answer", "'$gen.summary': module 'generate' (step 'gen') has no output 'summary' (outputs: reasoning, answer)"),
    (lambda d: d["forward"][0]["with"].pop("question"), "definition.forward[0].with", "required input 'question' of module 'generate' is not bound"),
]


@pytest.mark.parametrize("change,path,reason", INVALID)
def test_invalid_definition_paths(qa_definition, change, path, reason):
    change(qa_definition)
    result = validate_definition(qa_definition)
    assert not result.ok
    assert {"path": path, "reason": reason} in result.issues, result.issues


def test_normalizes_the_design_example(qa_definition):
    result = validate_definition(qa_definition)
    assert result.ok
    assert result.program["forward"][0] == {
        "call": "generate",
        "with": {"context": {"ref": {"step": "input", "field": "context"}}, "question": {"ref": {"step": "input", "field": "question"}}},
        "as": "gen",
    }
    assert result.program["modules"]["generate"]["signature"]["inputs"]["context"] == {"type": {"list": "str"}, "desc": "passages"}


def test_dollar_dollar_escapes_a_literal_dollar(qa_definition):
    qa_definition["forward"][0]["with"]["question"] = "$$5 off?"
    result = validate_definition(qa_definition)
    assert result.ok
    assert result.program["forward"][0]["with"]["question"] == {"literal": "$5 off?"}


def test_never_raises_on_deeply_nested_input():
    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    result = validate_definition({"inputs": deep})
    assert not result.ok and "nests deeper than 32 levels" in result.issues[0]["reason"]


def test_dspy_reserved_field_names_are_rejected_with_their_paths(qa_definition):
    d = copy.deepcopy(qa_definition)
    d["modules"]["generate"]["signature"]["inputs"]["config"] = "str"
    d["forward"][0]["with"]["config"] = "x"
    result = validate_definition(d)
    assert not result.ok
    assert result.issues == [
        {
            "path": "definition.modules.generate.signature.inputs.config",
            "reason": "input field name 'config' is reserved by DSPy (dspy.Predict takes it as an option); rename the field",
        }
    ]
    compact = copy.deepcopy(qa_definition)
    compact["modules"]["generate"]["signature"] = "context: list[str], question -> instructions"
    compact["forward"][1]["return"]["answer"] = "$gen.instructions"
    result = validate_definition(compact)
    assert [i["path"] for i in result.issues] == ["definition.modules.generate.signature"]
    # The TypeScript validator has the same rules (dspyNames.ts); the fixture cases check parity.
    assert validate_program_definition(compact).issues == result.issues


def test_self_and_instance_cannot_be_inputs(qa_definition):
    d = copy.deepcopy(qa_definition)
    d["inputs"]["self"] = "str"
    d["modules"]["generate"]["signature"]["inputs"]["instance"] = "str"
    d["forward"][0]["with"]["instance"] = "$input.self"
    assert [i["path"] for i in validate_definition(d).issues] == [
        "definition.inputs.self",
        "definition.modules.generate.signature.inputs.instance",
    ]


def test_reserved_names_cover_the_installed_pydantic():
    members = {name for name in dir(pydantic.BaseModel) if name.startswith("model_")}
    assert members <= PYDANTIC_MEMBERS, f"new pydantic members to reserve on both sides: {sorted(members - PYDANTIC_MEMBERS)}"


def test_other_model_names_and_option_names_as_outputs_are_fine(qa_definition):
    d = copy.deepcopy(qa_definition)
    d["modules"]["generate"]["signature"]["inputs"]["model_name"] = "str"
    d["modules"]["generate"]["signature"]["outputs"]["config"] = "str"
    d["forward"][0]["with"]["model_name"] = "x"
    assert validate_definition(d).ok


def test_acall_is_a_dspy_module_method(qa_definition):
    d = copy.deepcopy(qa_definition)
    d["modules"]["acall"] = d["modules"].pop("generate")
    d["forward"][0]["call"] = "acall"
    assert validate_definition(d).issues == [
        {"path": "definition.modules.acall", "reason": "module name 'acall' would shadow dspy.Module.acall"}
    ]


def test_program_inputs_are_checked_like_typescript(qa_definition):
    program = validate_definition(qa_definition).program
    assert validate_program_inputs(program, {"context": ["a", 2], "extra": 1}) == [
        {"path": "inputs.context[1]", "reason": "expected str, got number 2"},
        {"path": "inputs.question", "reason": "is required"},
        {"path": "inputs.extra", "reason": "is not an input of this program (declared: context, question)"},
    ]
    assert validate_program_inputs(program, [1]) == [{"path": "inputs", "reason": "must be a JSON object of input fields"}]
    assert validate_program_inputs(program, {"context": [], "question": "q"}) == []
