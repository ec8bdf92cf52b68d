#!/usr/bin/env node
/**
 * Writes crds/glancestore.yaml and crds/glancestoretarget.yaml from the zod schemas, or with --check exits 1
 * when the committed file differs. Run from the repository root after a
 * build: `node dist/src/api/generate-crd.js [--check]`.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CHART_CRD_FILE, CHART_TARGET_CRD_FILE, CRD_FILE, glanceStoreCrdYaml, glanceStoreTargetCrdYaml, TARGET_CRD_FILE } from "./crd.js";

const { values } = parseArgs({
  options: { check: { type: "boolean", default: false }, root: { type: "string", default: process.cwd() } },
  strict: true,
});
// The chart carries the same files in its crds/ folder, for `helm install`.
const files: [string, string][] = [
  [CRD_FILE, glanceStoreCrdYaml()],
  [CHART_CRD_FILE, glanceStoreCrdYaml()],
  [TARGET_CRD_FILE, glanceStoreTargetCrdYaml()],
  [CHART_TARGET_CRD_FILE, glanceStoreTargetCrdYaml()],
];
for (const [file, generated] of files) {
  const path = resolve(values.root, file);
  if (values.check) {
    const committed = await readFile(path, "utf8").catch(() => "");
    if (committed !== generated) {
      process.stderr.write(`${path} differs from the zod schemas: run \`node dist/src/api/generate-crd.js\` and commit the result\n`);
      process.exitCode = 1;
    }
  } else {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, generated);
    process.stdout.write(`wrote ${path}\n`);
  }
}
