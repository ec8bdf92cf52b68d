/**
 * withMainConfig: what a test adds to the main glance-api.conf the stack
 * writes (StartGlanceOptions.mainConfig), merged into the stack's own lines.
 * Pure; the real glance-api reading such a file is test/e2e/legacy-locations.test.ts.
 */
import test from "ava";
import { withMainConfig } from "../../src/devstack/glance.js";

const BASE = ["[DEFAULT]", "bind_port = 9292", "workers = 2", "[database]", "connection = postgresql://x"];

test("without extras the stack's lines come back as they were, one per line, ending in a newline", (t) => {
  t.is(withMainConfig(BASE, {}), `${BASE.join("\n")}\n`);
});

test("options of a section the stack writes go at its end; new sections at the end of the file, in the order given", (t) => {
  const text = withMainConfig(BASE, {
    DEFAULT: { show_multiple_locations: "true", show_image_direct_url: "true" },
    local: { filesystem_store_datadir: "/tmp/stack/local", store_description: "Local $$ disk" },
    another: {},
  });
  t.is(
    text,
    [
      "[DEFAULT]",
      "bind_port = 9292",
      "workers = 2",
      "show_multiple_locations = true",
      "show_image_direct_url = true",
      "[database]",
      "connection = postgresql://x",
      "[local]",
      "filesystem_store_datadir = /tmp/stack/local",
      "store_description = Local $$ disk",
      "[another]",
      "",
    ].join("\n"),
  );
});

test("an option the stack sets itself is refused, not overridden", (t) => {
  t.throws(() => withMainConfig(BASE, { DEFAULT: { bind_port: "1" } }), { message: /\[DEFAULT\] bind_port is set by the stack itself/ });
  t.throws(() => withMainConfig(BASE, { database: { connection: "sqlite://" } }), { message: /\[database\] connection/ });
});

test("names and values that would not stay one line of their section are refused", (t) => {
  t.throws(() => withMainConfig(BASE, { "a]\n[b": { x: "1" } }), { message: /not a section name/ });
  t.throws(() => withMainConfig(BASE, { DEFAULT: { "x = y": "1" } }), { message: /not an option name/ });
  t.throws(() => withMainConfig(BASE, { DEFAULT: { x: "1\n[database]\nconnection = other" } }), { message: /several lines/ });
});
