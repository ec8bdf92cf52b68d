/**
 * Reading an existing glance-api.conf the way oslo.config 9 reads it
 * (`oslo_config/iniparser.py` and `cfg.py`), for `glance-store-operator
 * migrate`:
 *
 *  - the text is split into lines at \n, \r\n and \r, and each line is
 *    right-stripped (Python's whitespace, not JavaScript's);
 *  - a blank line ends a value; a line starting with a space or a tab
 *    continues the value of the previous line (joined with \n), and is an
 *    error where there is none;
 *  - `[name]` starts a section; `#` and `;` start a comment, at the start of
 *    a line only (`key = a # b` is the value `a # b`);
 *  - `key = value` or `key: value`, split at whichever comes first; key and
 *    value stripped; one pair of matching surrounding quotes (`"` or `'`)
 *    removed; nothing else unescaped;
 *  - sections are looked up lower-cased, except `DEFAULT`; a repeated
 *    option: the last one wins.
 *
 * When an option is read, `\$` becomes `$$`, then the value is a
 * string.Template: `$$` is `$`, and `$name` / `${name}` interpolate another
 * option (osloStringValue).
 *
 * No message of this module holds a value or a line of the file: any of
 * them may be a password.
 */

// Python's str.isspace() set, which str.strip() and rstrip() use.
const PYTHON_WHITESPACE = new Set([
  "\t", "\n", "\u000b", "\u000c", "\r", "\u001c", "\u001d", "\u001e", "\u001f", " ", "\u0085", "\u00a0", "\u1680",
  "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006", "\u2007", "\u2008", "\u2009", "\u200a",
  "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
]);

function isSpace(char: string | undefined): boolean {
  return char !== undefined && PYTHON_WHITESPACE.has(char);
}

export function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(text[start])) start += 1;
  while (end > start && isSpace(text[end - 1])) end -= 1;
  return text.slice(start, end);
}

function pythonRstrip(text: string): string {
  let end = text.length;
  while (end > 0 && isSpace(text[end - 1])) end -= 1;
  return text.slice(0, end);
}

function pythonLstrip(text: string): string {
  let start = 0;
  while (start < text.length && isSpace(text[start])) start += 1;
  return text.slice(start);
}

export interface IniOption {
  readonly name: string;
  /** The value as oslo.config's parser hands it on: stripped, one pair of quotes removed, before `$` substitution. */
  readonly raw: string;
  /** 1-based line of `key = ...`. */
  readonly line: number;
  /** The value went on over indented continuation lines (it then holds \n). */
  readonly continued: boolean;
}

export interface IniSection {
  /** The section's name as the file writes it (first occurrence). */
  readonly name: string;
  readonly line: number;
  /** By option name; a repeated option keeps the last value, as oslo.config does. */
  readonly options: Map<string, IniOption>;
  /** Options given more than once in this section (across its occurrences). */
  readonly repeated: Set<string>;
}

export interface IniFile {
  /** By oslo.config's normalized name: `DEFAULT` as it is, any other lower-cased. In file order. */
  readonly sections: Map<string, IniSection>;
}

export type IniParseResult = { readonly ok: true; readonly file: IniFile } | { readonly ok: false; readonly errors: readonly string[] };

/** oslo.config's group-name normalization (`cfg._normalize_group_name`). */
export function normalizeSectionName(name: string): string {
  return name === "DEFAULT" ? name : name.toLowerCase();
}

/**
 * Parses the text of a glance-api.conf. Errors are the ones oslo.config
 * raises too (so glance-api could not have started with the file either),
 * by line number, without the line.
 */
export function parseOsloIni(text: string): IniParseResult {
  const sections = new Map<string, IniSection>();
  const errors: string[] = [];
  let current: IniSection | undefined;
  let pending: { name: string; values: string[]; line: number } | undefined;

  const flush = (): void => {
    if (pending === undefined) return;
    const { name, values, line } = pending;
    pending = undefined;
    if (current === undefined) {
      errors.push(`line ${line}: an option before any [section]: oslo.config refuses the file ("Section must be started before assignment")`);
      return;
    }
    if (current.options.has(name)) current.repeated.add(name);
    current.options.set(name, { name, raw: values.join("\n"), line, continued: values.length > 1 });
  };

  // Python's universal newlines: \r\n, \r and \n each end a line.
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  lines.forEach((rawLine, index) => {
    const lineNumber = index + 1;
    // A BOM is not whitespace to Python; a file saved with one starts its first line with it.
    const line = pythonRstrip(index === 0 && rawLine.startsWith("\uFEFF") ? rawLine.slice(1) : rawLine);
    if (line === "") {
      flush();
      return;
    }
    if (line.startsWith(" ") || line.startsWith("\t")) {
      if (pending === undefined) errors.push(`line ${lineNumber}: an indented line that continues no option: oslo.config refuses the file ("Unexpected continuation line")`);
      else pending.values.push(pythonLstrip(line));
      return;
    }
    flush();
    if (line.startsWith("[")) {
      if (!line.endsWith("]")) {
        errors.push(`line ${lineNumber}: a section header without its closing "]": oslo.config refuses the file`);
        return;
      }
      if (line.length <= 2) {
        errors.push(`line ${lineNumber}: an empty section name: oslo.config refuses the file`);
        return;
      }
      const name = line.slice(1, -1);
      const key = normalizeSectionName(name);
      let section = sections.get(key);
      if (section === undefined) {
        section = { name, line: lineNumber, options: new Map(), repeated: new Set() };
        sections.set(key, section);
      }
      current = section;
      return;
    }
    if (line.startsWith("#") || line.startsWith(";")) return;
    const colon = line.indexOf(":");
    const equal = line.indexOf("=");
    if (colon < 0 && equal < 0) {
      errors.push(`line ${lineNumber}: neither "=" nor ":" in what should be an option: oslo.config refuses the file`);
      return;
    }
    const at = colon < 0 || (equal >= 0 && equal < colon) ? equal : colon;
    const name = pythonStrip(line.slice(0, at));
    let value = pythonStrip(line.slice(at + 1));
    if (value.length > 0 && value[0] === value[value.length - 1] && (value[0] === '"' || value[0] === "'")) value = value.slice(1, -1);
    if (name === "") {
      errors.push(`line ${lineNumber}: an option without a name: oslo.config refuses the file`);
      return;
    }
    pending = { name, values: [value], line: lineNumber };
  });
  flush();
  return errors.length > 0 ? { ok: false, errors } : { ok: true, file: { sections } };
}

export type OsloStringValue = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly interpolates: string };

/**
 * The string oslo.config hands to Glance for a raw value: `\$` and `$$` are a
 * literal `$`; `$name` or `${name}` would interpolate another option, which
 * this migration does not follow (it says which option, never the value).
 */
export function osloStringValue(raw: string): OsloStringValue {
  const escaped = raw.split("\\$").join("$$");
  let interpolates: string | undefined;
  // string.Template with oslo.config's idpattern [_a-z][._a-z0-9]*, case-insensitive.
  const value = escaped.replace(/\$(?:(\$)|([_a-z][._a-z0-9]*)|\{([_a-z][._a-z0-9]*)\}|)/gi, (match, dollar: string | undefined, named: string | undefined, braced: string | undefined) => {
    if (dollar !== undefined) return "$";
    if (named !== undefined || braced !== undefined) {
      interpolates ??= named ?? braced;
      return match;
    }
    return match;
  });
  return interpolates === undefined ? { ok: true, value } : { ok: false, interpolates };
}

/** oslo.config's Boolean type: true/1/on/yes, false/0/off/no, any case. */
export function osloBoolean(value: string): boolean | undefined {
  const lower = value.toLowerCase();
  if (["true", "1", "on", "yes"].includes(lower)) return true;
  if (["false", "0", "off", "no"].includes(lower)) return false;
  return undefined;
}

/** oslo.config's Integer type (Python int() of the stripped text), without Python's digit separators. */
export function osloInteger(value: string): number | undefined {
  const text = pythonStrip(value);
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const number = Number(text);
  return Number.isSafeInteger(number) ? number : undefined;
}

/** oslo.config's List type, as far as store names go: comma-separated, stripped, empty items dropped. */
export function osloList(value: string): string[] {
  return value
    .split(",")
    .map((item) => {
      const stripped = pythonStrip(item);
      return stripped.length >= 2 && stripped[0] === stripped[stripped.length - 1] && (stripped[0] === '"' || stripped[0] === "'") ? stripped.slice(1, -1) : stripped;
    })
    .filter((item) => item !== "");
}

/** oslo.config's Dict type (`key:value, key:value`); undefined with the reason when an entry is malformed or repeated. */
export function osloDict(value: string): { readonly ok: true; readonly entries: readonly [string, string][] } | { readonly ok: false; readonly message: string } {
  const entries: [string, string][] = [];
  const seen = new Set<string>();
  const text = pythonStrip(value);
  if (text === "") return { ok: true, entries };
  for (const [index, part] of text.split(",").entries()) {
    const colon = part.indexOf(":");
    if (colon < 0) return { ok: false, message: `entry ${index + 1} is not <id>:<type>` };
    const key = pythonStrip(part.slice(0, colon));
    const type = pythonStrip(part.slice(colon + 1));
    if (key === "") return { ok: false, message: `entry ${index + 1} has an empty id` };
    if (seen.has(key)) return { ok: false, message: `the id ${JSON.stringify(key)} is given twice` };
    seen.add(key);
    entries.push([key, type]);
  }
  return { ok: true, entries };
}
