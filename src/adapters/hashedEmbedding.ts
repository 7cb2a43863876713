import { normalize } from "../corpora/vectors.js";

/** Dimensions of the in-process adapter's stand-in embeddings. */
export const HASHED_DIMS = 256;

/**
 * A deterministic stand-in for an embedding model (the in-process adapter's): a bag of lower-cased
 * words, each hashed (FNV-1a) to one of 256 signed buckets, L2-normalized. Texts that share words
 * are close; it knows nothing of meaning, which domain tests do not need.
 */
export function hashedEmbedding(text: string): Float32Array {
  const vector = new Float32Array(HASHED_DIMS);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    let hash = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 0x01000193) >>> 0;
    vector[hash % HASHED_DIMS] += hash & 0x80000000 ? -1 : 1;
  }
  return normalize(vector);
}
