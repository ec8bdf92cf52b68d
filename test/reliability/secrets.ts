/**
 * The test side's list of secrets (every password the suite used, every
 * token it saw) and a scan of texts for them. Hits name the secret by its
 * label and the text by its source, never by value.
 */

/** Keystone Fernet tokens: base64url of a Fernet payload, which starts with 0x80 ("gAAAAA"). */
export const FERNET_TOKEN = /gAAAAA[0-9A-Za-z_-]{20,}/g;

export interface ScannedText {
  readonly source: string;
  readonly text: string;
}

export class SecretRegistry {
  readonly #secrets = new Map<string, string>();

  /** Registers a secret value under a label (e.g. "password of user glance"). Values shorter than 6 characters would match by chance and are refused. */
  add(value: string, label: string): string {
    if (value.length < 6) throw new Error(`a secret for the scan must be at least 6 characters long (${label})`);
    if (!this.#secrets.has(value)) this.#secrets.set(value, label);
    return value;
  }

  get size(): number {
    return this.#secrets.size;
  }

  /** Every place a registered secret (as is or base64-encoded) or a Fernet token occurs. */
  scan(texts: readonly ScannedText[]): string[] {
    const hits: string[] = [];
    for (const { source, text } of texts) {
      for (const [value, label] of this.#secrets) {
        if (text.includes(value)) hits.push(`${source}: holds the ${label}`);
        else if (text.includes(Buffer.from(value, "utf8").toString("base64"))) hits.push(`${source}: holds the ${label}, base64-encoded`);
      }
      const tokens = text.match(FERNET_TOKEN) ?? [];
      if (tokens.length > 0) hits.push(`${source}: holds ${tokens.length} Keystone token(s) (gAAAAA...)`);
    }
    return hits;
  }
}
