import test from "ava";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parse } from "yaml";
import { CHART_CRD_FILE, CHART_TARGET_CRD_FILE, CRD_FILE, glanceStoreCrd, glanceStoreCrdYaml, glanceStoreTargetCrd, glanceStoreTargetCrdYaml, TARGET_CRD_FILE } from "../../src/api/crd.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

test("the committed CRD is exactly what the zod schemas generate", async (t) => {
  const committed = await readFile(`${ROOT}${CRD_FILE}`, "utf8");
  t.is(committed, glanceStoreCrdYaml(), "run `node dist/src/api/generate-crd.js` and commit crds/glancestore.yaml");
  t.deepEqual(parse(committed), glanceStoreCrd());
  t.is(await readFile(`${ROOT}${CHART_CRD_FILE}`, "utf8"), committed, "the Helm chart's crds/ must carry the same CRD");
});

test("the committed GlanceStoreTarget CRD is exactly what the zod schemas generate", async (t) => {
  const committed = await readFile(`${ROOT}${TARGET_CRD_FILE}`, "utf8");
  t.is(committed, glanceStoreTargetCrdYaml(), "run `node dist/src/api/generate-crd.js` and commit crds/glancestoretarget.yaml");
  t.deepEqual(parse(committed), glanceStoreTargetCrd());
  t.is(await readFile(`${ROOT}${CHART_TARGET_CRD_FILE}`, "utf8"), committed, "the Helm chart's crds/ must carry the same CRD");
});

test("generate-crd --check agrees, as CI would run it", async (t) => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [`${ROOT}dist/src/api/generate-crd.js`, "--check", "--root", ROOT]);
  t.is(stdout + stderr, "");
});

type Node = Record<string, unknown>;

function walk(node: Node, path: string, visit: (node: Node, path: string) => void): void {
  visit(node, path);
  for (const [name, child] of Object.entries((node["properties"] as Record<string, Node> | undefined) ?? {})) walk(child, `${path}.${name}`, visit);
  if (typeof node["items"] === "object") walk(node["items"] as Node, `${path}[]`, visit);
  if (typeof node["additionalProperties"] === "object") walk(node["additionalProperties"] as Node, `${path}{}`, visit);
}

const schema = (generate: () => unknown = glanceStoreCrd): Node => {
  const crd = generate() as { spec: { versions: { schema: { openAPIV3Schema: Node } }[] } };
  const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
  if (root === undefined) throw new Error("no version in the CRD");
  return root;
};

test("the schemas are structural: every node typed, no additionalProperties: false, no JSON-Schema-only keywords", (t) => {
  for (const root of [schema(), schema(glanceStoreTargetCrd)]) walk(root, "", (node, path) => {
    t.is(typeof node["type"], "string", `${path} has no type`);
    t.not(node["additionalProperties"], false, path);
    for (const keyword of ["$schema", "$ref", "$defs", "anyOf", "oneOf", "const", "propertyNames", "title"]) t.false(keyword in node, `${path} has ${keyword}`);
  });
});

test("every spec and status field is described, for kubectl explain", (t) => {
  for (const root of [schema(), schema(glanceStoreTargetCrd)]) {
  const properties = root["properties"] as Record<string, Node>;
  for (const part of ["spec", "status"]) {
    walk(properties[part] as Node, part, (node, path) => {
      t.true(typeof node["description"] === "string" && node["description"].length > 10, `${path} has no description`);
    });
  }
  }
});

test("every CEL rule has a message, and the root rules point at spec.storeId", (t) => {
  const rules: { rule: string; message?: string; fieldPath?: string; path: string }[] = [];
  walk(schema(), "", (node, path) => {
    for (const rule of (node["x-kubernetes-validations"] as { rule: string; message?: string; fieldPath?: string }[] | undefined) ?? []) rules.push({ ...rule, path });
  });
  t.true(rules.length >= 9, `${rules.length} rules`);
  for (const rule of rules) t.true((rule.message ?? "").length > 20, `${rule.path}: ${rule.rule}`);
  t.deepEqual(
    rules.filter((rule) => rule.path === "").map((rule) => rule.fieldPath),
    [".spec.storeId", ".spec.storeId", ".spec.storeId"],
  );
});
