import test from "ava";
import fc from "fast-check";
import { encodeOsloString, unrepresentableReason, UnrepresentableValueError } from "../../src/render/oslo-value.js";
import { osloString } from "./arbitraries.js";
import { ModelInterpolationError, osloReadsValue } from "./oslo-model.js";

const ROWS: readonly [name: string, value: string, written: string][] = [
  ["plain text is only quoted", "glance-fast", '"glance-fast"'],
  ["a dollar is doubled", "Fast $tier", '"Fast $$tier"'],
  ["two dollars become four", "$$", '"$$$$"'],
  ["a dollar after a backslash is backslash-escaped", "C:\\$share", '"C:\\\\$share"'],
  ["a lone backslash stays", "a\\b", '"a\\b"'],
  ["surrounding spaces are kept inside the quotes", "  padded  ", '"  padded  "'],
  ["inner quotes stay", 'say "hi" and \'bye\'', '"say "hi" and \'bye\'"'],
  ["a value that is one quote", '"', '"""'],
  ["# and ; are not comments inside a value", "a # b ; c", '"a # b ; c"'],
  ["the empty string", "", '""'],
  ["non-ASCII as is", "Schnell – größer 🚀", '"Schnell – größer 🚀"'],
];

for (const [name, value, written] of ROWS) {
  test(`encodes: ${name}`, (t) => {
    t.is(encodeOsloString(value), written);
    t.is(osloReadsValue(written), value);
  });
}

test("refuses line breaks, NUL and lone surrogates, with an error that does not hold the value", (t) => {
  for (const [value, reason] of [
    ["hunter\n2x", "LineBreak"],
    ["hunter\r2x", "LineBreak"],
    ["hunter\u00002x", "Nul"],
    ["hunter\uD8002x", "LoneSurrogate"],
  ] as const) {
    t.is(unrepresentableReason(value), reason);
    const error = t.throws(() => encodeOsloString(value), { instanceOf: UnrepresentableValueError });
    t.false(error.message.includes("hunter"));
  }
});

test("every representable string reads back as itself (property, oslo model)", (t) => {
  fc.assert(
    fc.property(osloString, (value) => {
      if (unrepresentableReason(value) !== undefined) return true;
      return osloReadsValue(encodeOsloString(value)) === value;
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

test("a string is refused exactly when it holds \\n, \\r, NUL or an unpaired surrogate (property)", (t) => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 12 }), fc.string({ unit: fc.constantFrom("\n", "\r", "\u0000", "\uD800", "\uDFFF", "x"), maxLength: 3 }), (a, b) => {
      const value = a + b;
      const expected = /[\n\r\u0000]/.test(value) || /[\uD800-\uDFFF]/u.test(value);
      return (unrepresentableReason(value) !== undefined) === expected;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test("the $$ escape alone is not enough: after a backslash oslo.config would interpolate", (t) => {
  const naive = (value: string): string => `"${value.replace(/\$/g, "$$$$")}"`;
  t.is(osloReadsValue(naive("Fast $tier")), "Fast $tier");
  t.is(osloReadsValue(naive("x\\$")), "x$$");
  t.throws(() => osloReadsValue(naive("x\\$y")), { instanceOf: ModelInterpolationError });
  t.is(osloReadsValue(encodeOsloString("x\\$y")), "x\\$y");
});
