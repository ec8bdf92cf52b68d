/**
 * A model of how oslo.config 9 reads one `key = value` line into a string
 * (iniparser.BaseParser._split_key_value, then ConfigOpts._substitute), for
 * fast property tests. It is itself checked against the real oslo.config by
 * oslo-roundtrip.test.ts, on the same kind of inputs.
 */

// Python's str.isspace() set, which str.strip() uses; not JavaScript's trim() set.
const PYTHON_WHITESPACE = new Set([
  "\t", "\n", "\u000b", "\u000c", "\r", "\u001c", "\u001d", "\u001e", "\u001f", " ", "\u0085", "\u00a0", "\u1680",
  "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a",
  "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
]);

function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && PYTHON_WHITESPACE.has(text[start] ?? "")) start += 1;
  while (end > start && PYTHON_WHITESPACE.has(text[end - 1] ?? "")) end -= 1;
  return text.slice(start, end);
}

export class ModelInterpolationError extends Error {}

/** The string oslo.config hands to Glance for the line `key = <written>`; throws where oslo would. */
export function osloReadsValue(written: string): string {
  if (/[\n\r]/.test(written)) throw new Error("a line break splits the line");
  let value = pythonStrip(written);
  if (value.length > 0 && value[0] === value[value.length - 1] && (value[0] === '"' || value[0] === "'")) value = value.slice(1, -1);
  value = value.split("\\$").join("$$");
  // string.Template.safe_substitute with idpattern [_a-z][._a-z0-9]* (case-insensitive).
  return value.replace(/\$(?:(\$)|([_a-z][._a-z0-9]*)|\{([_a-z][._a-z0-9]*)\}|)/gi, (match, escaped: string | undefined, named: string | undefined, braced: string | undefined) => {
    if (escaped !== undefined) return "$";
    if (named !== undefined || braced !== undefined) throw new ModelInterpolationError(`would interpolate option ${named ?? braced}`);
    return match;
  });
}
