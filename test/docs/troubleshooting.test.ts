/**
 * docs/troubleshooting.md keeps up with the code: every condition reason the
 * controller can set (the `reason: "..."` literals of src/controller and
 * src/openstack, and the OpenStack client's error reasons) has a section,
 * every condition type is named, and no section describes a reason the code
 * no longer sets.
 */
import test from "ava";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OPENSTACK_ERROR_REASONS } from "../../src/openstack/errors.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

async function sources(folder: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, folder), { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith(".ts")) out.push(await readFile(join(ROOT, path), "utf8"));
  }
  return out;
}

async function emitted(): Promise<{ reasons: Set<string>; types: Set<string> }> {
  const texts = [...(await sources("src/controller")), ...(await sources("src/openstack"))];
  const reasons = new Set<string>(OPENSTACK_ERROR_REASONS);
  const types = new Set<string>();
  for (const text of texts) {
    for (const match of text.matchAll(/\breason: "([A-Z][A-Za-z]+)"/g)) reasons.add(match[1]!);
    for (const match of text.matchAll(/\btype: "([A-Z][A-Za-z]+)",\s*status: "/g)) types.add(match[1]!);
  }
  return { reasons, types };
}

async function documented(): Promise<{ text: string; sections: Set<string> }> {
  const text = await readFile(join(ROOT, "docs", "troubleshooting.md"), "utf8");
  const reasonsPart = text.slice(text.indexOf("\n## Reasons\n"), text.indexOf("\n## Symptoms\n"));
  return { text, sections: new Set([...reasonsPart.matchAll(/^### ([A-Za-z]+)$/gm)].map((match) => match[1]!)) };
}

test("every reason the code can set has a section in docs/troubleshooting.md, and every section is a reason the code sets", async (t) => {
  const { reasons } = await emitted();
  const { sections } = await documented();
  // The scan's own check: it finds what controller.md's table names.
  for (const known of ["Ready", "KeptLastGood", "DeletionBlocked", "MixedCredentials", "AuthFailed", "NameTaken", "SecretNotFound", "VolumeTypeChangeNotConfirmed", "Timeout"]) t.true(reasons.has(known), known);
  t.deepEqual([...reasons].filter((reason) => !sections.has(reason)).sort(), [], "reasons without a section");
  t.deepEqual([...sections].filter((section) => !reasons.has(section)).sort(), [], "sections of reasons the code does not set");
});

test("every condition type the controller sets is explained", async (t) => {
  const { types } = await emitted();
  const { text } = await documented();
  t.true(types.size >= 6, [...types].join(", "));
  for (const type of types) t.true(text.includes(`| \`${type}\` |`), `${type} is in the table of conditions`);
});

test("every link to a section of docs/troubleshooting.md names one that exists", async (t) => {
  const { text } = await documented();
  const anchors = new Set([...text.matchAll(/^#+ (.+)$/gm)].map((match) => match[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, "").replace(/ /g, "-")));
  const files = [join(ROOT, "docs", "troubleshooting.md"), join(ROOT, "docs", "operations.md"), join(ROOT, "README.md")];
  let checked = 0;
  for (const file of files) {
    const content = await readFile(file, "utf8");
    for (const match of content.matchAll(/\]\((?:troubleshooting\.md|docs\/troubleshooting\.md)?#([a-z0-9-]+)\)/g)) {
      if (file.endsWith("troubleshooting.md") || match[0].includes("troubleshooting.md")) {
        checked += 1;
        t.true(anchors.has(match[1]!), `${file}: #${match[1]}`);
      }
    }
  }
  t.true(checked >= 10, `${checked} links checked`);
});
