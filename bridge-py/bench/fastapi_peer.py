"""The peer of bench/executions.ts: the same Predict program served the way DSPy's deployment
tutorial serves a program (FastAPI, `dspy.asyncify`, one uvicorn process).

Same signature as the bench's program definition (instructions "Answer briefly.", question -> answer),
DSPy's DummyLM with the same substring answers, configured once at import. Run by the bench as

    python -m uvicorn fastapi_peer:app --host 127.0.0.1 --port PORT --no-access-log

(from this folder; the tutorial's `--reload` is a development option and is left out, as is the
access log, which the subgraph does not write either).
"""

import dspy
from dspy.utils.dummies import DummyLM
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

ANSWERS = {"France": {"answer": "Paris"}}


class Answerer(dspy.Signature):
    """Answer briefly."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


app = FastAPI(title="DSPy Program API")


class Question(BaseModel):
    text: str


# As the tutorial: configure the LM once and asyncify the program (async_max_workers=4, as there).
dspy.settings.configure(lm=DummyLM(ANSWERS), async_max_workers=4)
dspy_program = dspy.asyncify(dspy.Predict(Answerer))


@app.post("/predict")
async def predict(question: Question):
    try:
        result = await dspy_program(question=question.text)
        return {"status": "success", "data": result.toDict()}
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))
