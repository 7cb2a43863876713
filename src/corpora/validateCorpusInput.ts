import { LOCAL_EMBEDDING_MODEL } from "../adapters/DspyAdapter.js";
import { IssueList, describe, jsonValueIssue } from "../validation.js";

export interface DocumentFields {
  text: string;
  title?: string | null;
  metadata?: Record<string, unknown> | null;
}

export const CORPUS_LIMITS = {
  maxDocumentsPerCall: 1000,
  /** UTF-8 bytes of one document's text (MySQL's TEXT holds 65,535; the local model reads the first 256 tokens). */
  maxTextBytes: 20_000,
  maxTitle: 500,
  maxMetadataBytes: 16_384,
  maxDocumentsPerCorpus: 100_000,
  maxDescription: 10_000,
  maxModel: 200,
} as const;

export const LOCAL_EMBEDDING_MODELS: readonly string[] = [LOCAL_EMBEDDING_MODEL];

/** name, description, embeddingModel: a local model this product ships, or a litellm string `provider/model`. */
export function validateCorpusFields(input: { name?: unknown; description?: unknown; embeddingModel?: unknown }, issues: IssueList): void {
  issues.name("input.name", input.name);
  issues.optionalText("input.description", input.description, CORPUS_LIMITS.maxDescription);
  const model = input.embeddingModel;
  if (model === undefined || model === null) return;
  if (typeof model !== "string") return issues.add("input.embeddingModel", `must be a string, got ${describe(model)}`);
  if (model.length > CORPUS_LIMITS.maxModel) return issues.add("input.embeddingModel", `must be at most ${CORPUS_LIMITS.maxModel} characters, got ${model.length}`);
  if (model.startsWith("local/")) {
    if (!LOCAL_EMBEDDING_MODELS.includes(model)) issues.add("input.embeddingModel", `'${model}' is not a local model; local models: ${LOCAL_EMBEDDING_MODELS.join(", ")}`);
    return;
  }
  if (!/^[A-Za-z0-9_.-]+\/\S+$/.test(model)) {
    issues.add("input.embeddingModel", `must be ${LOCAL_EMBEDDING_MODEL} or a litellm embedding model string 'provider/model' (e.g. openai/text-embedding-3-small)`);
  }
}

/** Every document of a batch, each problem with its path; `input.documents` itself when the batch is empty or too large. */
export function validateDocuments(documents: unknown, path: string, issues: IssueList): void {
  if (!Array.isArray(documents)) return issues.add(path, `must be a list of documents, got ${describe(documents)}`);
  if (documents.length === 0) return issues.add(path, "must contain at least one document");
  if (documents.length > CORPUS_LIMITS.maxDocumentsPerCall) {
    return issues.add(path, `has ${documents.length} documents; at most ${CORPUS_LIMITS.maxDocumentsPerCall} can be added in one call`);
  }
  documents.forEach((document: Partial<DocumentFields>, i) => {
    const at = `${path}[${i}]`;
    const text = document.text;
    if (typeof text !== "string") issues.add(`${at}.text`, `must be a string, got ${describe(text)}`);
    else if (text.trim() === "") issues.add(`${at}.text`, "must not be empty");
    else {
      const bytes = Buffer.byteLength(text, "utf8");
      if (bytes > CORPUS_LIMITS.maxTextBytes) issues.add(`${at}.text`, `is ${bytes} bytes of UTF-8; the limit is ${CORPUS_LIMITS.maxTextBytes}`);
      else textIssue(`${at}.text`, text, issues);
    }
    if (document.title !== undefined && document.title !== null) {
      if (typeof document.title !== "string") issues.add(`${at}.title`, `must be a string, got ${describe(document.title)}`);
      else if (document.title.length > CORPUS_LIMITS.maxTitle) issues.add(`${at}.title`, `must be at most ${CORPUS_LIMITS.maxTitle} characters, got ${document.title.length}`);
      else textIssue(`${at}.title`, document.title, issues);
    }
    if (document.metadata !== undefined && document.metadata !== null) issues.jsonObject(`${at}.metadata`, document.metadata, CORPUS_LIMITS.maxMetadataBytes);
  });
}

/** NUL and lone surrogates cannot be stored or sent to a worker as they are. */
function textIssue(path: string, text: string, issues: IssueList): void {
  const issue = jsonValueIssue(text);
  if (issue) issues.add(path, issue.reason);
}
