// Secrets at rest: BMC passwords and cluster HMAC secrets are stored encrypted (AES-256-GCM) with a
// key kept outside the database, so a copied database file alone gives nothing away. Tokens and
// agent credentials are stored only as SHA-256 hashes: they are random, so no salt is needed.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";

export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** Reads the 32-byte key (hex) from `file`, creating it (mode 0600) when absent. */
  static fromFile(file: string): SecretBox {
    if (!existsSync(file)) {
      writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
    }
    const hex = readFileSync(file, "utf8").trim();
    if (!/^[0-9a-f]{64}$/i.test(hex))
      throw new Error(`the secret key file ${file} must hold 64 hex digits (a 32-byte key)`);
    return new SecretBox(Buffer.from(hex, "hex"));
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return `v1:${iv.toString("base64")}:${cipher.getAuthTag().toString("base64")}:${body.toString("base64")}`;
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, body] = sealed.split(":");
    if (version !== "v1" || iv === undefined || tag === undefined || body === undefined)
      throw new Error("an encrypted value in the database is not in the v1 format");
    const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64"));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    try {
      return Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString("utf8");
    } catch {
      throw new Error("an encrypted value in the database does not open with this server's secret key");
    }
  }
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A random token with a readable prefix that says what it is (`vgl_admin_...`, `vgl_agent_...`). */
export function newToken(kind: string): string {
  return `vgl_${kind}_${randomBytes(24).toString("base64url")}`;
}
