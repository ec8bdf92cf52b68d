import type { CauseSummary } from "./errors.js";

/**
 * Second line of defence: no code path puts a secret into a message on
 * purpose, but text that comes from elsewhere (a server's error body, a
 * low-level error message) is scrubbed of every secret this client knows
 * before it is kept.
 */

export const REDACTED = "[redacted]";

/**
 * Secrets shorter than this are not searched for: replacing every "a" of a
 * message would destroy it, and such values are never echoed by Keystone or
 * Cinder anyway. Tokens are long; a 1-3 character password is refused by any
 * sane Keystone password policy.
 */
export const MIN_REDACTED_LENGTH = 4;

/**
 * Keystone fernet tokens (`gAAAAA` + base64url) and JWS tokens (three
 * base64url parts): scrubbed even when this client did not issue them.
 */
const TOKEN_PATTERNS: readonly RegExp[] = [/gAAAAA[A-Za-z0-9_\-=]{20,}/g, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g];

export function redactSecrets(text: string, secrets: Iterable<string>): string {
  let result = text;
  // Longest first, so a secret that contains another is replaced whole.
  const ordered = [...new Set(secrets)].filter((s) => s.length >= MIN_REDACTED_LENGTH).sort((a, b) => b.length - a.length);
  for (const secret of ordered) result = result.split(secret).join(REDACTED);
  for (const pattern of TOKEN_PATTERNS) result = result.replace(pattern, REDACTED);
  return result;
}

/**
 * Summarizes an error and its cause chain into one plain object. The codes
 * of the chain are joined (outermost first) because the informative one
 * (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, DEPTH_ZERO_SELF_SIGNED_CERT) is not
 * always the outermost.
 */
export function summarizeCause(error: unknown, secrets: Iterable<string>, maxDepth = 5): CauseSummary {
  const secretList = [...secrets];
  const codes: string[] = [];
  const messages: string[] = [];
  let name = "Error";
  let current: unknown = error;
  for (let depth = 0; depth < maxDepth && current !== undefined && current !== null; depth++) {
    if (current instanceof Error || (typeof current === "object" && "message" in current)) {
      const value = current as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown };
      if (depth === 0 && typeof value.name === "string") name = value.name;
      if (typeof value.code === "string" || typeof value.code === "number") codes.push(String(value.code));
      if (typeof value.message === "string" && value.message !== "" && !messages.includes(value.message)) messages.push(value.message);
      current = value.cause;
    } else {
      messages.push(String(current));
      break;
    }
  }
  const code = codes.join(",");
  return {
    name,
    ...(code === "" ? {} : { code }),
    message: redactSecrets(messages.join(": ") || "no message", secretList),
  };
}

/** The codes an error chain carries, outermost first, for classification. */
export function causeCodes(error: unknown, maxDepth = 5): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < maxDepth && typeof current === "object" && current !== null; depth++) {
    const value = current as { code?: unknown; name?: unknown; cause?: unknown };
    if (typeof value.code === "string") codes.push(value.code);
    if (typeof value.name === "string") codes.push(value.name);
    current = value.cause;
  }
  return codes;
}

/** Strips the query string (and any userinfo) from a URL before it goes into a message. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    parsed.search = "";
    parsed.hash = "";
    return parsed.toString();
  } catch {
    return url.split("?")[0] ?? url;
  }
}
