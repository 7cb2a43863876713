"""The peer of bench/executions.ts: the same Predict program served the way DSPy's deployment
tutorial serves a program (FastAPI, `dspy.asyncify`, one uvicorn process).

Same signature as the bench's program definition (instructions "Answer briefly.", question -> answer),
DSPy's DummyLM with the same substring answers, configured once at import. With PEER_LM_API_BASE set
(the bench's "1 ms OpenAI-compatible LM" comparison, bench/fakeOpenAIServer.ts), the LM is instead
`dspy.LM("openai/bench-model", api_base=PEER_LM_API_BASE, api_key="x", cache=False, num_retries=0)`,
the configuration the subgraph's model gets there. Run by the bench as

    python -m uvicorn fastapi_peer:app --host 127.0.0.1 --port PORT --no-access-log

(from this folder; the tutorial's `--reload` is a development option and is left out, as is the
access log, which the subgraph does not write either).
"""

import os

# As the subgraph's worker (dspy_bridge/worker.py): litellm's model price list from its package, not
# fetched from the internet on first use.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy  # noqa: E402
from dspy.utils.dummies import DummyLM  # noqa: E402
from fastapi import FastAPI, HTTPException  # noqa: E402
from pydantic import BaseModel  # noqa: E402

ANSWERS = {"France": {"answer": "Paris"}}


class Answerer(dspy.Signature):
    """Answer briefly."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


app = FastAPI(title="DSPy Program API")


class Question(BaseModel):
    text: str


# As the tutorial: configure the LM once and asyncify the program (async_max_workers=4, as there).
API_BASE = os.environ.get("PEER_LM_API_BASE")
if API_BASE:
    lm = dspy.LM("openai/bench-model", api_base=API_BASE, api_key="x", cache=False, num_retries=0)
else:
    lm = DummyLM(ANSWERS)
dspy.settings.configure(lm=lm, async_max_workers=4)
dspy_program = dspy.asyncify(dspy.Predict(Answerer))


@app.post("/predict")
async def predict(question: Question):
    try:
        result = await dspy_program(question=question.text)
        return {"status": "success", "data": result.toDict()}
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))
