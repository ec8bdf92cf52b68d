/**
 * Writing a string so that oslo.config reads back exactly that string.
 *
 * How oslo.config (9.x, `iniparser.py` and `cfg.py`) reads `key = value`:
 *  1. the file is split into lines at \n and \r (Python's universal
 *     newlines), and each line is right-stripped;
 *  2. the value is everything after the first `=` (or `:`), stripped of
 *     whitespace at both ends (Python's notion of whitespace, which differs
 *     from JavaScript's trim);
 *  3. if the value starts and ends with the same quote character (`"` or
 *     `'`), one pair is removed; nothing else is unescaped;
 *  4. when the option is read, `\$` is replaced by `$$`, then the value is a
 *     string.Template: `$$` is a literal `$` and `$name` / `${name}`
 *     interpolate another option (a missing one raises NoSuchOptError, so
 *     glance-api fails).
 *
 * So a value is written between double quotes (steps 2 and 3 then keep
 * leading and trailing spaces, quotes, `#` and `;` as they are), and each
 * `$` becomes `$$`, except right after a backslash: there `\$$` would be
 * read as `$$$` by step 4, so `\$` is written `\\$`, which step 4 turns into
 * `\$$` and the template into `\$`. Proven against the real oslo.config by
 * test/render/oslo-roundtrip.test.ts.
 *
 * What cannot be written: \n and \r (they end the line) and, by choice,
 * NUL, which oslo.config would read but which C code downstream (libpq,
 * uwsgi, keystoneauth's transports) may cut. Lone UTF-16 surrogates have no
 * UTF-8 encoding.
 */

export type UnrepresentableReason = "LineBreak" | "Nul" | "LoneSurrogate";

const DESCRIPTIONS: Readonly<Record<UnrepresentableReason, string>> = {
  LineBreak: "contains a line break (\\n or \\r), which ends a line of a Glance config file",
  Nul: "contains a NUL character, which cannot be passed on safely",
  LoneSurrogate: "contains an unpaired UTF-16 surrogate, which has no UTF-8 encoding",
};

/** Why `value` cannot be written into an oslo.config file, or undefined when it can. */
export function unrepresentableReason(value: string): UnrepresentableReason | undefined {
  if (/[\n\r]/.test(value)) return "LineBreak";
  if (value.includes("\u0000")) return "Nul";
  // With the u flag a surrogate pair is one code point: only unpaired halves match.
  if (/[\uD800-\uDFFF]/u.test(value)) return "LoneSurrogate";
  return undefined;
}

/** The reason in words, without the value (it may be a password). */
export function describeUnrepresentable(reason: UnrepresentableReason): string {
  return DESCRIPTIONS[reason];
}

export class UnrepresentableValueError extends Error {
  override readonly name = "UnrepresentableValueError";
  readonly code = "UnrepresentableValue";
  constructor(readonly reason: UnrepresentableReason) {
    super(`the value ${describeUnrepresentable(reason)}`);
  }
}

/**
 * The text to put after `key = ` so that oslo.config reads `value` back.
 * Throws UnrepresentableValueError (which never holds the value) when it
 * cannot; call unrepresentableReason first to report it as data.
 */
export function encodeOsloString(value: string): string {
  const reason = unrepresentableReason(value);
  if (reason !== undefined) throw new UnrepresentableValueError(reason);
  let out = '"';
  for (let index = 0; index < value.length; index += 1) {
    const char = value[index];
    if (char === "$") out += value[index - 1] === "\\" ? "\\$" : "$$";
    else out += char;
  }
  return `${out}"`;
}

export function encodeOsloInteger(value: number): string {
  if (!Number.isSafeInteger(value)) throw new RangeError(`not an integer: ${value}`);
  return String(value);
}

export function encodeOsloBoolean(value: boolean): string {
  return value ? "true" : "false";
}
