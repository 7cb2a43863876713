/** The multi-hop RAG program and its corpus, shared by test/rag.test.ts (DummyLM) and test/realLm.test.ts. */

/** 1,000 records of noise and the two facts a two-hop question needs (who runs the project, then its code). */
export function ragDocuments(): { text: string }[] {
  const places = ["The river", "A small village", "The old library", "Our factory", "The mountain trail", "A coastal town", "The museum", "The night market", "A research lab", "The railway station"];
  const facts = ["opens every morning at seven", "was rebuilt after a storm", "hosts a festival each summer", "is known for its gardens", "employs several hundred people"];
  const noise = Array.from({ length: 1000 }, (_, i) => ({ text: `Record ${i}: ${places[i % 10]} in district ${Math.floor(i / 100)} ${facts[Math.floor(i / 10) % 5]}, note ${(i * 7919) % 1000}.` }));
  noise[311] = { text: "Ada Moreno is the flight director who runs project Nightingale." };
  noise[737] = { text: "The launch code of project Nightingale is the word tangerine." };
  return noise;
}

/** Multi-hop RAG as data: a loop of (ChainOfThought query → Retrieve), then a ChainOfThought answer over what was found. */
export function ragDefinition(corpusId: string): Record<string, unknown> {
  return {
    inputs: { question: "str" },
    modules: {
      hop: { type: "ChainOfThought", signature: { instructions: "Write a search query for what is still missing to answer the question.", inputs: { context: "list[str]", question: "str" }, outputs: { query: "str" } } },
      search: { type: "Retrieve", corpus: corpusId, config: { k: 1 } },
      answer: { type: "ChainOfThought", signature: { instructions: "Answer from the context, in one word.", inputs: { context: "list[str]", question: "str" }, outputs: { answer: "str" } } },
    },
    forward: [
      {
        loop: { max: 2 },
        as: "hops",
        vars: { context: { type: "list[str]", value: [] } },
        steps: [
          { call: "hop", with: { context: "$hops.context", question: "$input.question" }, as: "q" },
          { call: "search", with: { query: "$q.query" }, as: "found" },
        ],
        append: { context: "$found.passages" },
      },
      { call: "answer", with: { context: "$hops.context", question: "$input.question" }, as: "a" },
      { return: { answer: "$a.answer", context: "$hops.context" } },
    ],
  };
}

