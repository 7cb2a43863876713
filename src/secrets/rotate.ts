import { IsNull, Not } from "typeorm";
import { LanguageModel } from "../../entities/index.js";
import type { Database } from "../db/Database.js";
import { AppError } from "../errors.js";
import { type SecretKeyring, decryptSecret, encryptSecret, languageModelAad, storedKeyId } from "./SecretBox.js";

export interface RotationReport {
  /** Stored secrets seen. */
  total: number;
  /** Re-encrypted with the current key. */
  rotated: number;
  /** Already under the current key. */
  current: number;
  /** Ids of language models whose key could not be decrypted with any known key (left as they were). */
  failed: string[];
}

/**
 * Re-encrypts every stored secret with the current key (README: "Secrets", key rotation). Each
 * row is updated only if it still holds the value read, so a concurrent change is never lost
 * (that row then already holds a value written under the current key).
 */
export async function rotateSecrets(database: Database, keyring: SecretKeyring): Promise<RotationReport> {
  const current = keyring.current;
  if (!current) throw new AppError("BAD_CONFIG", "SECRETS_KEY is not set: set the new key as SECRETS_KEY and the old one as SECRETS_KEY_PREVIOUS");
  const report: RotationReport = { total: 0, rotated: 0, current: 0, failed: [] };
  const rows = await database.manager.find(LanguageModel, {
    select: { id: true, tenantId: true, apiKeyEncrypted: true },
    where: { apiKeyEncrypted: Not(IsNull()) },
    order: { id: "ASC" },
  });
  for (const row of rows) {
    const stored = row.apiKeyEncrypted;
    if (!stored) continue;
    report.total += 1;
    if (storedKeyId(stored) === current.id) {
      report.current += 1;
      continue;
    }
    const aad = languageModelAad(row.tenantId, row.id);
    let plaintext: string;
    try {
      plaintext = decryptSecret(keyring, stored, aad);
    } catch {
      report.failed.push(row.id);
      continue;
    }
    await database.manager
      .createQueryBuilder()
      .update(LanguageModel)
      .set({ apiKeyEncrypted: encryptSecret(keyring, plaintext, aad) })
      .where("id = :id AND apiKeyEncrypted = :stored", { id: row.id, stored })
      .execute();
    report.rotated += 1;
  }
  return report;
}
