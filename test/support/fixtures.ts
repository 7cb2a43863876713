/** The example definition from DESIGN.md: one ChainOfThought over a context and a question. */
export function qaDefinition(instructions = "Answer the question from the context."): Record<string, unknown> {
  return {
    inputs: { context: { type: "list[str]" }, question: { type: "str" } },
    modules: {
      generate: {
        type: "ChainOfThought",
        signature: {
          instructions,
          inputs: { context: { type: "list[str]", desc: "passages" }, question: { type: "str" } },
          outputs: { answer: { type: "str", desc: "a short answer" } },
        },
      },
    },
    forward: [
      { call: "generate", with: { context: "$input.context", question: "$input.question" }, as: "gen" },
      { return: { answer: "$gen.answer" } },
    ],
  };
}

/** The same program written with DSPy's compact signature string. */
export function compactDefinition(): Record<string, unknown> {
  return {
    inputs: { question: { type: "str" } },
    modules: { answer: { type: "Predict", signature: "question -> answer" } },
    forward: [{ call: "answer", with: { question: "$input.question" }, as: "a" }, { return: { answer: "$a.answer" } }],
  };
}

export const PROGRAM_FIELDS = `id name description definition version createdAt updatedAt
  languageModel { id name }
  currentVersion { id number contentHash source definition compiledState score }`;
