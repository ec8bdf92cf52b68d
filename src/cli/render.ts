import { chmod, mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { extname, join, relative } from "node:path";
import { parseArgs } from "node:util";
import { parseAllDocuments } from "yaml";
import { GLANCE_CONF_DIR } from "../render/glance-paths.js";
import { planOfflineRender, type ManifestDocument, type OfflineTarget } from "../render/manifests.js";
import { renderedFiles } from "../render/render.js";

export const RENDER_USAGE = `Usage: glance-store-operator render -f PATH [-f PATH ...] --out DIR [options]

Renders the Glance config files the operator would write, from GlanceStore
and Secret manifests, without a cluster. Nothing is written unless every
input is valid. In a cluster, glance-api reads these files from
${GLANCE_CONF_DIR}, where its Deployment mounts the operator's ConfigMap
and Secret (every glance program reads that folder, eventlet and WSGI alike).

  -f, --filename PATH   a YAML or JSON file (several documents allowed, kind List
                        too), a folder of them (*.yaml, *.yml, *.json), or - for stdin
  -R, --recursive       read folders recursively
  -o, --out DIR         where to write. One target: DIR/glance-api-stores.conf and
                        DIR/glance-api-stores-credentials.conf. Several targets:
                        DIR/<namespace>/<target>/ for each.
  -n, --namespace NS    namespace of objects that name none (default "default")
  -h, --help            show this help

Exit status: 0 written, 1 invalid input (nothing written), 2 usage error.
`;

export interface RenderIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readStdin: () => Promise<string>;
}

/** `glance-store-operator render ...`; resolves to the exit status. */
export async function runRender(args: readonly string[], io: RenderIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        filename: { type: "string", short: "f", multiple: true },
        recursive: { type: "boolean", short: "R", default: false },
        out: { type: "string", short: "o" },
        namespace: { type: "string", short: "n", default: "default" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${RENDER_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(RENDER_USAGE);
    return 0;
  }
  const paths = values.filename ?? [];
  if (paths.length === 0 || values.out === undefined) {
    io.stderr(`render needs at least one -f PATH and --out DIR\n\n${RENDER_USAGE}`);
    return 2;
  }

  const documents: ManifestDocument[] = [];
  const readErrors: string[] = [];
  for (const path of paths) {
    for (const file of path === "-" ? ["-"] : await manifestFiles(path, values.recursive, readErrors)) {
      const text = file === "-" ? await io.readStdin() : await readFile(file, "utf8");
      documents.push(...parseManifests(text, file === "-" ? "(stdin)" : file, readErrors));
    }
  }
  if (readErrors.length > 0) {
    for (const error of readErrors) io.stderr(`${error}\n`);
    return 1;
  }

  const plan = planOfflineRender(documents, { defaultNamespace: values.namespace });
  if (!plan.ok) {
    io.stderr(`nothing written: ${plan.errors.length} problem(s)\n`);
    for (const error of plan.errors) io.stderr(`${error}\n`);
    return 1;
  }
  const layout = plan.targets.length === 1 ? "flat" : "per-target";
  for (const target of plan.targets) {
    const dir = layout === "flat" ? values.out : join(values.out, target.namespace, target.target);
    await writeTarget(dir, target);
    const storeList = target.stores.map((s) => (s.default ? `${s.storeId} (default)` : s.storeId)).join(", ");
    io.stdout(`${target.namespace}/${target.target}: ${storeList} -> ${dir}\n`);
  }
  if (plan.ignored.length > 0) io.stderr(`ignored (neither GlanceStore nor Secret): ${plan.ignored.join(", ")}\n`);
  return 0;
}

async function writeTarget(dir: string, target: OfflineTarget): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const file of renderedFiles(target.config)) {
    const path = join(dir, file.name);
    // Written aside and renamed, so that a reader never sees half a file; the credentials file is private from its creation.
    const temporary = `${path}.tmp-${process.pid}`;
    await writeFile(temporary, file.content, { mode: file.secret ? 0o600 : 0o644 });
    await chmod(temporary, file.secret ? 0o600 : 0o644);
    await rename(temporary, path);
  }
}

const MANIFEST_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

async function manifestFiles(path: string, recursive: boolean, errors: string[]): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch {
    errors.push(`${path}: no such file or folder`);
    return [];
  }
  if (!info.isDirectory()) return [path];
  const files: string[] = [];
  const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) {
      if (recursive) files.push(...(await manifestFiles(full, true, errors)));
    } else if (MANIFEST_EXTENSIONS.has(extname(entry.name))) {
      files.push(full);
    }
  }
  if (files.length === 0) errors.push(`${path}: no *.yaml, *.yml or *.json file${recursive ? "" : " (use -R for subfolders)"}`);
  return files;
}

function parseManifests(text: string, origin: string, errors: string[]): ManifestDocument[] {
  const shown = origin.startsWith("/") ? relative(process.cwd(), origin) || origin : origin;
  const documents: ManifestDocument[] = [];
  parseAllDocuments(text).forEach((document, index) => {
    const where = `${shown}#${index + 1}`;
    if (document.errors.length > 0) {
      // Only the position: the quoted line could be a Secret's stringData.
      const position = document.errors[0]?.linePos?.[0];
      errors.push(`${where}: not valid YAML${position ? ` at line ${position.line}, column ${position.col}` : ""}: ${document.errors[0]?.code ?? ""}`);
      return;
    }
    documents.push({ origin: where, object: document.toJS() });
  });
  return documents;
}
