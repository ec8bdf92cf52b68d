import { chmod, readFile, rename, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { storeIdProblem } from "../api/store-id.js";
import { checkCinder, checkCredentials, type CinderCheckOutcome, type CinderFacts, type StoreToCheck } from "../migrate/cinder-check.js";
import { readGlanceConfig, type Finding, type SourceModel } from "../migrate/glance-conf.js";
import { parseOsloIni } from "../migrate/ini.js";
import { credentialOption, credentialSets, isDnsSubdomain, manifestsYaml, planMigration, type CredentialSet, type MigrateSettings } from "../migrate/plan.js";
import { migrationReport } from "../migrate/report.js";
import { OpenStackClient } from "../openstack/client.js";
import { redactSecrets } from "../openstack/redact.js";
import { configMapName, credentialsSecretName } from "../controller/naming.js";
import { GLANCE_CONF_DIR } from "../render/glance-paths.js";
import { STORES_CONF_FILE } from "../render/render.js";

export const MIGRATE_USAGE = `Usage: glance-store-operator migrate --from PATH [options]

Reads an existing glance-api.conf, single-store (legacy [glance_store]
stores = cinder, ...) or multi-store (enabled_backends), and writes the
manifests that make this operator run the same stores: a GlanceStoreTarget,
one GlanceStore per cinder store and the credentials Secret(s). Every object
is validated and rendered as the operator would before anything is written.
The report says what was migrated, what was not and why, what to change in
glance-api.conf, and never shows a password.

  --from PATH           the glance-api.conf to read
  -n, --namespace NS    namespace of the objects (default "openstack")
  --target NAME         the GlanceStoreTarget, and the GlanceStores' spec.target
                        (default "glance-api")
  --secret-name NAME    the credentials Secret (default "glance-cinder"); another
                        credential set gets NAME-<store id>
  --store-id ID         the id of a legacy single cinder store (default: the name
                        of its volume type, which images are then found under)
  --check-cinder        ask Keystone and Cinder with the file's credentials (read
                        only): pin Cinder's default volume type for a store that
                        sets no cinder_volume_type, check the types the stores
                        name, and count image volumes of types no store covers
  --dry-run             write nothing: print the manifests with Secret values as
                        <redacted>, and the ${STORES_CONF_FILE} glance-api would
                        read from ${GLANCE_CONF_DIR}
  -o, --out FILE|-      where the manifests go (default -, stdout, and the report
                        goes to stderr); a FILE is created with mode 0600, as it
                        holds passwords, and the report goes to stdout
  -h, --help            show this help

Exit status: 0 written, 1 the file cannot be migrated or Cinder cannot be
checked (nothing written), 2 usage error (a missing --store-id included).
`;

export interface MigrateIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Reads the --from file, and a CA bundle the file names for --check-cinder. */
  readonly readFile?: (path: string) => Promise<string>;
  /** Writes --out FILE. */
  readonly writeFile?: (path: string, content: string) => Promise<void>;
  /** The OpenStack calls of --check-cinder; default: the operator's client. */
  readonly cinder?: () => CinderFacts;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** `glance-store-operator migrate ...`; resolves to the exit status. */
export async function runMigrate(args: readonly string[], io: MigrateIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        from: { type: "string" },
        namespace: { type: "string", short: "n", default: "openstack" },
        target: { type: "string", default: "glance-api" },
        "secret-name": { type: "string", default: "glance-cinder" },
        "store-id": { type: "string" },
        "check-cinder": { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        out: { type: "string", short: "o", default: "-" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${MIGRATE_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(MIGRATE_USAGE);
    return 0;
  }
  const usage = (message: string): number => {
    io.stderr(`migrate: ${message}\n\n${MIGRATE_USAGE}`);
    return 2;
  };
  const from = values.from;
  if (from === undefined || from === "") return usage("--from PATH is required: the glance-api.conf to migrate");
  if (!(values.namespace.length <= 63 && DNS_LABEL.test(values.namespace))) return usage(`--namespace ${JSON.stringify(values.namespace)} is not a namespace name (a DNS-1123 label)`);
  if (!(values.target.length <= 63 && DNS_LABEL.test(values.target))) return usage(`--target ${JSON.stringify(values.target)} is not a DNS-1123 label, which a target's name must be`);
  const secretName = values["secret-name"];
  if (!isDnsSubdomain(secretName)) return usage(`--secret-name ${JSON.stringify(secretName)} is not a Secret name (a DNS-1123 subdomain)`);
  if (secretName === credentialsSecretName(values.target)) return usage(`--secret-name ${secretName} is the Secret the operator renders for target ${values.target}: choose another name`);
  const storeId = values["store-id"];
  if (storeId !== undefined) {
    const problem = storeIdProblem(storeId);
    if (problem !== undefined) return usage(`--store-id: ${problem.message}`);
  }
  const settings: MigrateSettings = { namespace: values.namespace, target: values.target, secretName, storeId };
  const read = io.readFile ?? ((path: string) => readFile(path, "utf8"));

  let text: string;
  try {
    text = await read(from);
  } catch (error) {
    io.stderr(`migrate: cannot read ${from}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
    return 1;
  }
  const ini = parseOsloIni(text);
  if (!ini.ok) {
    io.stderr(`migrate: ${from} cannot be read as an oslo.config file; nothing written:\n${ini.errors.map((error) => `  ${error}\n`).join("")}`);
    return 1;
  }
  const source = readGlanceConfig(ini.file);
  const scrub = (message: string): string => redactSecrets(message, source.ok ? source.model.secretValues : []);
  const fail = (lines: readonly string[]): number => {
    io.stderr(scrub(`migrate: ${from} cannot be migrated; nothing written:\n${lines.map((line) => `  ${line}\n`).join("")}`));
    return 1;
  };
  if (!source.ok) return fail(source.errors.map(formatFinding));
  const model = source.model;
  const sets = credentialSets(model, settings);
  if (!sets.ok) return fail(sets.errors);

  let check: Extract<CinderCheckOutcome, { ok: true }> | undefined;
  const extraFindings: Finding[] = [];
  if (values["check-cinder"]) {
    const stores = await storesToCheck(model, sets.sets, read, extraFindings);
    if (!stores.ok) return fail(stores.errors);
    const facts = (io.cinder ?? (() => new OpenStackClient()))();
    let outcome: CinderCheckOutcome;
    try {
      outcome = await checkCinder(stores.stores, facts);
    } finally {
      await facts.close();
    }
    if (!outcome.ok) return fail([outcome.message]);
    check = outcome;
  }

  const plan = planMigration(model, sets.sets, settings, check?.pinned);
  if (!plan.ok) {
    if (plan.usage) return usage(scrub(plan.errors.join("\n")));
    return fail(plan.errors);
  }
  const out = values.out;
  const dryRun = values["dry-run"];
  const manifests = manifestsYaml(plan, { redact: dryRun, from });
  const checkCommand = [
    "glance-store-operator migrate",
    `--from ${shellWord(from)}`,
    ...(values.namespace === "openstack" ? [] : [`--namespace ${values.namespace}`]),
    ...(values.target === "glance-api" ? [] : [`--target ${values.target}`]),
    ...(secretName === "glance-cinder" ? [] : [`--secret-name ${secretName}`]),
    ...(storeId === undefined ? [] : [`--store-id ${storeId}`]),
    "--check-cinder --dry-run",
  ].join(" ");
  let wrote: string;
  if (dryRun) {
    wrote = "nothing (--dry-run)";
  } else if (out === "-") {
    wrote = "stdout";
  } else {
    try {
      await (io.writeFile ?? writePrivateFile)(out, manifests);
    } catch (error) {
      io.stderr(`migrate: cannot write ${out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
      return 1;
    }
    wrote = `${out} (mode 0600: it holds the Secrets)`;
  }
  const report = migrationReport({ from, model, plan, check, wrote, checkCommand, extraFindings });
  if (dryRun) {
    io.stdout(scrub(`# Manifests (dry run: nothing written; Secret values shown as <redacted>)\n${manifests}`));
    io.stdout(
      scrub(
        `\n# What Glance would run: ${GLANCE_CONF_DIR}/${STORES_CONF_FILE} (ConfigMap ${configMapName(settings.target)}; it holds no secret)\n${plan.config.storesConf}` +
          `\n# enabled_backends = ${plan.enabledBackends}\n# default_backend = ${plan.defaultBackend}\n`,
      ),
    );
    io.stderr(report);
  } else if (out === "-") {
    io.stdout(manifests);
    io.stderr(report);
  } else {
    io.stdout(report);
  }
  return 0;
}

function formatFinding(finding: Finding): string {
  const where = finding.section === undefined ? "" : finding.option === undefined ? `[${finding.section}]: ` : `[${finding.section}] ${finding.option}: `;
  return `${where}${finding.message}`;
}

/** The stores --check-cinder asks about, with the credentials of their Secret; refused when a Secret is a template. */
async function storesToCheck(
  model: SourceModel,
  sets: readonly CredentialSet[],
  read: (path: string) => Promise<string>,
  findings: Finding[],
): Promise<{ ok: true; stores: StoreToCheck[] } | { ok: false; errors: string[] }> {
  const errors: string[] = [];
  const stores: StoreToCheck[] = [];
  for (const store of model.cinder) {
    const set = sets.find((s) => s.positions.includes(store.position));
    const label = store.storeId === undefined ? "the legacy cinder store" : `store ${JSON.stringify(store.storeId)}`;
    if (set === undefined || set.resolved === undefined) {
      errors.push(
        `--check-cinder needs the credentials glance_store uses, and [${store.section}] lacks ${(set?.missing ?? []).map((key) => credentialOption(key)).join(", ")} (${label}): check by hand (see docs/upgrade.md), or migrate without --check-cinder and fill in the Secret`,
      );
      continue;
    }
    const fields = store.fields;
    let caCertPem: string | undefined;
    if (typeof fields.caCertificatesFile === "string") {
      try {
        const pem = await read(fields.caCertificatesFile);
        if (pem.includes("-----BEGIN CERTIFICATE-----")) caCertPem = pem;
      } catch {
        // Only glance-api's host may have it.
      }
      findings.push({
        kind: "note",
        section: store.section,
        option: "cinder_ca_certificates_file",
        message:
          caCertPem === undefined
            ? "the CA bundle it names cannot be read here: Cinder was checked trusting only the system's CAs"
            : "Cinder was checked trusting the CA bundle it names (consider caCert in the credentials Secret, which the operator checks with and renders for Glance)",
      });
    }
    stores.push({
      position: store.position,
      label,
      section: store.section,
      secretName: set.secretName,
      projectName: set.data["projectName"],
      volumeType: typeof fields.volumeType === "string" ? fields.volumeType : undefined,
      target: {
        credentials: checkCredentials(set.resolved, caCertPem),
        catalogInfo: typeof fields.catalogInfo === "string" ? fields.catalogInfo : undefined,
        regionName: typeof fields.regionName === "string" ? fields.regionName : undefined,
        endpointTemplate: typeof fields.endpointTemplate === "string" ? fields.endpointTemplate : undefined,
        httpRetries: typeof fields.httpRetries === "number" ? fields.httpRetries : undefined,
        apiInsecure: typeof fields.apiInsecure === "boolean" ? fields.apiInsecure : undefined,
      },
    });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, stores };
}

/** The manifests hold passwords: written aside with mode 0600 and renamed, so no reader sees half a file or a readable one. */
async function writePrivateFile(path: string, content: string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, content, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
