/** Embedding vectors as stored and sent to workers: base64 of little-endian float32 (PROTOCOL.md "Corpora"). */

export function encodeVector(vector: ArrayLike<number>): string {
  const buffer = Buffer.alloc(vector.length * 4);
  for (let i = 0; i < vector.length; i++) buffer.writeFloatLE(vector[i], i * 4);
  return buffer.toString("base64");
}

export function decodeVector(encoded: string): Float32Array {
  const buffer = Buffer.from(encoded, "base64");
  const out = new Float32Array(buffer.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buffer.readFloatLE(i * 4);
  return out;
}

/** L2-normalized copy (a zero vector stays zero). */
export function normalize(vector: ArrayLike<number>): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i] * vector[i];
  const norm = Math.sqrt(sum) || 1;
  return Float32Array.from(vector, (x) => x / norm);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) sum += a[i] * b[i];
  return sum;
}
