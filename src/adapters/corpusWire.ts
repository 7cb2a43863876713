import type { LanguageModelPolicies } from "../languageModels/policies.js";
import type { WorkerLease } from "../workers/WorkerPool.js";
import type { CorpusDocumentVector, CorpusSpec } from "./DspyAdapter.js";

/**
 * A `define_corpus` frame holds at most about this much document text and vectors: the protocol's
 * frame limit is 8 MiB, and a corpus larger than one frame goes in parts (offset/total), all to the
 * same worker (PROTOCOL.md "Corpora").
 */
export const CORPUS_PART_BYTES = 4 * 1024 * 1024;

/** Key under which a lease remembers that its worker holds a corpus. */
export function corpusKey(corpus: Pick<CorpusSpec, "corpusId" | "hash">): string {
  return `corpus:${corpus.corpusId}:${corpus.hash}`;
}

/** The worker's `model`: the local model by name; a hosted one with the deployment's egress policy (as LMs get it). */
export function embeddingModelWire(model: string, policies: LanguageModelPolicies): string | { model: string; egress_allow: string[] } {
  return model.startsWith("local/") ? model : { model, egress_allow: [...policies.egress.allow] };
}

/** Sends a whole corpus to the lease's worker: one `define_corpus`, or parts of at most CORPUS_PART_BYTES. */
export async function sendCorpus(lease: WorkerLease, corpus: CorpusSpec, policies: LanguageModelPolicies): Promise<void> {
  const documents = await corpus.documents();
  const model = embeddingModelWire(corpus.model, policies);
  const total = documents.length;
  let offset = 0;
  for (const part of parts(documents)) {
    await lease.request("define_corpus", {
      corpus_key: corpus.corpusId,
      hash: corpus.hash,
      model,
      offset,
      total,
      documents: part.map((d) => ({ id: d.id, text: d.text })),
      vectors: part.map((d) => d.embedding),
    });
    offset += part.length;
  }
}

function* parts(documents: CorpusDocumentVector[]): Generator<CorpusDocumentVector[]> {
  let part: CorpusDocumentVector[] = [];
  let bytes = 0;
  for (const document of documents) {
    // JSON of a text is at most 6 bytes per UTF-16 unit (\\u escapes); typical text is close to 1.
    const size = Buffer.byteLength(document.text, "utf8") * 2 + document.embedding.length + 64;
    if (part.length > 0 && bytes + size > CORPUS_PART_BYTES) {
      yield part;
      part = [];
      bytes = 0;
    }
    part.push(document);
    bytes += size;
  }
  // An empty corpus is still one message: the worker then holds it (and finds nothing in it).
  if (part.length > 0 || documents.length === 0) yield part;
}
