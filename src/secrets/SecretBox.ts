import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { AppError } from "../errors.js";

/**
 * AES-256-GCM for secrets stored in the database (README: "Secrets").
 *
 * A stored value is `v1:<keyId>:<iv>:<tag>:<ciphertext>` (base64url parts): a random 96-bit IV per
 * value, GCM's 128-bit authentication tag, and the id of the key that encrypted it, so values
 * written under an older key still decrypt while SECRETS_KEY_PREVIOUS holds it. The key id is a
 * fingerprint of the key (the first 8 bytes of a SHA-256 over a label and the key), never the key.
 * Each value is bound to where it is stored (`aad`, e.g. the row's tenant and id): a ciphertext
 * copied onto another row does not decrypt.
 */
export interface SecretKey {
  id: string;
  key: Buffer;
}

export interface SecretKeyring {
  /** Encrypts new values; absent when SECRETS_KEY is not set (then no secret can be stored). */
  current?: SecretKey;
  /** Every key that may decrypt: the current one first, then the previous ones. */
  keys: SecretKey[];
}

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export const EMPTY_KEYRING: SecretKeyring = { keys: [] };

/** The id of a key: a fingerprint that names it in stored values without revealing it. */
export function keyId(key: Buffer): string {
  return createHash("sha256").update("dspy-subgraph secrets key id\0").update(key).digest("hex").slice(0, 16);
}

/** A 32-byte key given as 64 hex digits or as base64 (standard or url-safe); BAD_CONFIG naming `variable` otherwise. */
export function parseSecretKey(variable: string, raw: string): SecretKey {
  const text = raw.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, "hex");
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) key = Buffer.from(text, "base64");
  if (!key || key.length !== KEY_BYTES) {
    throw new AppError(
      "BAD_CONFIG",
      `${variable} must be a 32-byte key, as 64 hex digits or 44 base64 characters (e.g. the output of \`openssl rand -base64 32\`)`,
    );
  }
  return { id: keyId(key), key };
}

/** The keyring from SECRETS_KEY (current) and SECRETS_KEY_PREVIOUS (comma-separated older keys, decrypt only). */
export function loadKeyring(read: (name: "SECRETS_KEY" | "SECRETS_KEY_PREVIOUS") => string | undefined): SecretKeyring {
  const currentRaw = read("SECRETS_KEY");
  const previousRaw = read("SECRETS_KEY_PREVIOUS");
  if (currentRaw === undefined) {
    if (previousRaw !== undefined) throw new AppError("BAD_CONFIG", "SECRETS_KEY_PREVIOUS is set but SECRETS_KEY is not: set the new key as SECRETS_KEY");
    return EMPTY_KEYRING;
  }
  const current = parseSecretKey("SECRETS_KEY", currentRaw);
  const previous = (previousRaw ?? "")
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part, i) => parseSecretKey(`SECRETS_KEY_PREVIOUS[${i}]`, part))
    .filter((key) => key.id !== current.id);
  return { current, keys: [current, ...previous] };
}

/** The error a request gets when it tries to store a secret and no key is configured. */
export function noKeyConfigured(path: string): AppError {
  return AppError.badInput(
    path,
    "storing an API key needs SECRETS_KEY (a 32-byte key: `openssl rand -base64 32`) in the server's environment; or keep the key in an environment variable and name it in secretEnv",
  );
}

export function encryptSecret(keyring: SecretKeyring, plaintext: string, aad: string): string {
  const current = keyring.current;
  if (!current) throw new AppError("BAD_CONFIG", "SECRETS_KEY is not set: no secret can be encrypted");
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", current.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, current.id, iv.toString("base64url"), tag.toString("base64url"), body.toString("base64url")].join(":");
}

/** The key id a stored value names, or undefined when the value is not in the stored form. */
export function storedKeyId(stored: string): string | undefined {
  const parts = stored.split(":");
  return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
}

/**
 * Decrypts a stored value. Fails closed with SECRET_UNREADABLE (never with the value or the key)
 * when the value is malformed, names a key this instance does not have, or fails authentication
 * (tampered, or moved to another row).
 */
export function decryptSecret(keyring: SecretKeyring, stored: string, aad: string): string {
  const parts = stored.split(":");
  if (parts.length !== 5 || parts[0] !== VERSION) throw unreadable("it is not in the stored form");
  const [, id, ivText, tagText, bodyText] = parts;
  const key = keyring.keys.find((candidate) => candidate.id === id);
  if (!key) {
    throw unreadable(`it was encrypted with key ${id}, which this instance does not have (set it as SECRETS_KEY or SECRETS_KEY_PREVIOUS)`);
  }
  const iv = Buffer.from(ivText, "base64url");
  const tag = Buffer.from(tagText, "base64url");
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw unreadable("it is not in the stored form");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, "utf8"));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(bodyText, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    throw unreadable("it failed authentication (altered, or copied from another record)");
  }
}

function unreadable(reason: string): AppError {
  return new AppError("SECRET_UNREADABLE", `the stored API key could not be decrypted: ${reason}`, { layer: "lm", retriable: false });
}

/** What binds a language model's stored key to its row. */
export function languageModelAad(tenantId: string, id: string): string {
  return `language_model:${tenantId}:${id}`;
}
