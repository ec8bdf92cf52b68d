/**
 * The repository explains itself: what the code relies on is in
 * docs/foundations.md, in our own words, and nothing points to design or
 * fact files that are not in the repository. References to sections of
 * docs/foundations.md name sections that exist.
 */
import test from "ava";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SCANNED = ["src", "test", "docs", "charts", "scripts", "examples", "bench", "deploy", "crds", "README.md"];
const SKIPPED_FOLDERS = new Set(["node_modules", "dist", ".git"]);

/** Built from parts so that this file does not name them itself. */
const FORBIDDEN = ["DESIGN", "FACTS"].map((name) => `${name}.md`);

async function files(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return [];
  if (!info.isDirectory()) return [path];
  const out: string[] = [];
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (SKIPPED_FOLDERS.has(entry.name)) continue;
    out.push(...(await files(join(path, entry.name))));
  }
  return out;
}

async function scannedTexts(): Promise<{ path: string; text: string }[]> {
  const paths = (await Promise.all(SCANNED.map((entry) => files(join(ROOT, entry))))).flat();
  return Promise.all(paths.map(async (path) => ({ path: relative(ROOT, path), text: await readFile(path, "utf8") })));
}

test("no file cites design or fact documents that are not in the repository", async (t) => {
  const texts = await scannedTexts();
  t.true(texts.length > 50, `${texts.length} files scanned`);
  const hits = texts.flatMap(({ path, text }) =>
    text.split("\n").flatMap((line, index) => (FORBIDDEN.some((name) => line.toLowerCase().includes(name.toLowerCase())) ? [`${path}:${index + 1}: ${line.trim()}`] : [])),
  );
  t.deepEqual(hits, [], `cite docs/foundations.md (or another doc of the repository) instead:\n${hits.join("\n")}`);
});

test("references to sections and rules of docs/foundations.md name ones that exist", async (t) => {
  const foundations = await readFile(join(ROOT, "docs", "foundations.md"), "utf8");
  const sections = new Set([...foundations.matchAll(/^## (\d+)\. /gm)].map((match) => Number(match[1])));
  const rulesPart = foundations.slice(foundations.indexOf("Rules the operator keeps"));
  const rules = new Set([...rulesPart.matchAll(/^(\d+)\. \*\*/gm)].map((match) => Number(match[1])));
  t.deepEqual([...rules], [1, 2, 3, 4, 5, 6, 7, 8]);
  let checked = 0;
  for (const { path, text } of await scannedTexts()) {
    // "docs/foundations.md section 2", "[foundations.md](foundations.md) sections 1 and 2"
    for (const match of text.matchAll(/foundations\.md\)?,? sections? (\d+)(?: and (\d+))?/g)) {
      for (const number of [match[1], match[2]].filter((n): n is string => n !== undefined)) {
        checked += 1;
        t.true(sections.has(Number(number)), `${path}: section ${number} of docs/foundations.md does not exist`);
      }
    }
    // "rule 4 in docs/foundations.md"
    for (const match of text.matchAll(/rule (\d+) in docs\/foundations\.md/g)) {
      checked += 1;
      t.true(rules.has(Number(match[1])), `${path}: rule ${match[1]} does not exist`);
    }
  }
  t.true(checked >= 10, `${checked} references checked`);
});
