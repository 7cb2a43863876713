"""ProgramBuilder: stable predictor names, typed signatures, no string evaluation."""

from __future__ import annotations

import typing

import dspy

from conftest import program_of
from dspy_bridge.program_builder import ProgramBuilder
from dspy_bridge.signatures import annotation


def build(definition: dict) -> dspy.Module:
    return ProgramBuilder.build(program_of(definition))


def test_named_predictors_are_stable_and_named_after_the_definition(two_step_definition):
    program = build(two_step_definition)
    assert isinstance(program, dspy.Module)
    # dspy 3.4.1: a ChainOfThought keeps its Predict as `.predict`; a Predict is a predictor itself.
    assert [name for name, _ in program.named_predictors()] == ["generate.predict", "summarize"]
    assert isinstance(program.generate, dspy.ChainOfThought) and isinstance(program.summarize, dspy.Predict)
    assert list(program.dump_state()) == ["generate.predict", "summarize"]
    # Two builds of one definition name their predictors identically.
    assert [n for n, _ in build(two_step_definition).named_predictors()] == ["generate.predict", "summarize"]


def test_signature_fields_types_descriptions_and_instructions(qa_definition):
    program = build(qa_definition)
    signature = program.generate.predict.signature
    assert signature.instructions == "Answer the question from the context."
    assert list(signature.input_fields) == ["context", "question"]
    assert list(signature.output_fields) == ["reasoning", "answer"]  # ChainOfThought prepends reasoning
    assert signature.input_fields["context"].annotation == list[str]
    assert signature.input_fields["context"].json_schema_extra["desc"] == "passages"
    assert signature.output_fields["answer"].json_schema_extra["desc"] == "a short answer"


def test_enums_become_literals_and_compact_signatures_are_parsed_without_dspy():
    program = build(
        {
            "inputs": {"text": "str", "tone": {"type": "enum", "values": ["formal", "casual"]}},
            "modules": {
                "classify": {
                    "type": "Predict",
                    "signature": "text, tone: Literal['casual', 'formal'] -> label: Literal['pos', 'neg'], stars: Literal[1, 2, 3], tags: List[str], meta: dict[str, Any], ok: bool, score: float",
                }
            },
            "forward": [{"call": "classify", "with": {"text": "$input.text", "tone": "$input.tone"}, "as": "c"}, {"return": {"label": "$c.label"}}],
        }
    )
    fields = {**program.classify.signature.input_fields, **program.classify.signature.output_fields}
    assert fields["text"].annotation is str
    assert fields["tone"].annotation == typing.Literal["casual", "formal"]
    assert fields["label"].annotation == typing.Literal["pos", "neg"]
    assert fields["stars"].annotation == typing.Literal[1, 2, 3]
    assert fields["tags"].annotation == list[str]
    assert fields["meta"].annotation == dict[str, typing.Any]
    assert fields["ok"].annotation is bool and fields["score"].annotation is float
    # Untyped compact fields are str; no instructions means DSPy's default ones.
    assert "text" in program.classify.signature.instructions


def test_annotation_of_nested_and_numeric_enum_types():
    assert annotation({"list": {"list": "int"}}) == list[list[int]]
    # JSON 1.0 and 1 are one enum value; Python spells it 1.
    assert annotation({"enum": [1.0, 2.5]}) == typing.Literal[1, 2.5]
    assert annotation({"enum": [True, False]}) == typing.Literal[True, False]


def test_submodules_map_for_the_tracer(two_step_definition):
    program = build(two_step_definition)
    modules = ProgramBuilder.modules(program)
    assert modules == {id(program.generate): ("generate", "ChainOfThought"), id(program.summarize): ("summarize", "Predict")}
