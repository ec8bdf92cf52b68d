import fc from "fast-check";

/** Characters oslo.config treats specially, and some that Python and JavaScript disagree about as whitespace. */
const tricky = fc.constantFrom("$", "\\", '"', "'", " ", "\t", "#", ";", "=", ":", "{", "}", "%", "[", "]", "\u00a0", "\u0085", "\u2028", "\u000b", "\u001c", "\ufeff", "a", "_");

/** Arbitrary strings, biased towards what a config file could mangle. */
export const osloString = fc.oneof(
  fc.string({ unit: tricky, maxLength: 24 }),
  fc.string({ unit: fc.oneof(tricky, fc.string({ unit: "binary", minLength: 1, maxLength: 1 })), maxLength: 24 }),
  fc.string({ unit: "grapheme", maxLength: 24 }),
);

/** Values people put in descriptions and passwords that have broken config files before. */
export const NASTY_VALUES: readonly string[] = [
  "Fast $tier",
  "pa$$word",
  "$HOME",
  "${glance_store}",
  "C:\\$share",
  "x\\$y",
  "trailing backslash\\",
  '"quoted"',
  "'single'",
  '"',
  "'",
  '""',
  "  padded  ",
  "\ttabbed\t",
  "a # not a comment",
  "; neither this",
  "#leading hash",
  "key = value",
  "[section]",
  "Schnell – größer 🚀",
  "ünïcødé 密码 🔑",
  "\u00a0nbsp\u00a0",
  "\ufeffbom",
  "%(tenant)s",
];
