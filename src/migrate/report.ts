import { redactSecrets } from "../openstack/redact.js";
import { STORES_CONF_FILE } from "../render/render.js";
import { pythonStrip } from "./ini.js";
import type { CinderCheckOutcome } from "./cinder-check.js";
import type { Finding, FindingKind, SourceModel } from "./glance-conf.js";
import { configMapName } from "../controller/naming.js";
import type { PlanResult } from "./plan.js";

/**
 * The report of `glance-store-operator migrate`: what was read, the objects
 * made, what Glance will run, what Cinder said (--check-cinder) or what
 * could not be known without asking it, every store-related option not
 * carried over, and the changes to make to glance-api.conf. It names
 * sections, options and keys, never a secret value; as a second line of
 * defence every secret value of the file is scrubbed from it.
 */

export interface ReportInput {
  readonly from: string;
  readonly model: SourceModel;
  readonly plan: Extract<PlanResult, { ok: true }>;
  readonly check: Extract<CinderCheckOutcome, { ok: true }> | undefined;
  /** Where the manifests went: `stdout`, a file, or nothing (dry run). */
  readonly wrote: string;
  /** The command line that would run the check, for "find out" hints. */
  readonly checkCommand: string;
  readonly extraFindings?: readonly Finding[];
}

const SECTIONS: readonly [FindingKind, string][] = [
  ["warning", "Warnings"],
  ["not-migrated", "Not migrated (section and option of the file; values are not shown)"],
  ["carried", "Carried over as spec.extraOptions (the operator passes them on unchecked)"],
  ["note", "Notes"],
];

export function migrationReport(input: ReportInput): string {
  const { model, plan, check } = input;
  const lines: string[] = [];
  lines.push(`glance-store-operator migrate: ${input.from}`);
  lines.push(`  read:  ${model.summary}`);
  lines.push(`  wrote: ${input.wrote}`);
  lines.push("");

  const namespace = plan.target.object.metadata.namespace ?? "";
  lines.push(`Objects (namespace ${namespace}):`);
  const targetSpec = plan.target.object.spec;
  const others = (targetSpec.otherStores ?? []).map((store) => `${store.id} (${store.type})`).join(", ");
  lines.push(
    `  GlanceStoreTarget ${plan.target.object.metadata.name}: ${others === "" ? "no other stores" : `otherStores ${others}`}${targetSpec.defaultStore === undefined ? "" : `; defaultStore ${targetSpec.defaultStore}`}`,
  );
  for (const store of plan.stores) {
    const type =
      store.volumeType.from === "file"
        ? `volume type ${store.volumeType.name}`
        : store.volumeType.from === "pinned"
          ? `volume type ${store.volumeType.name} (Cinder's default, pinned)`
          : "volume type unset (Cinder's default when the operator first renders it)";
    lines.push(`  GlanceStore ${store.object.metadata.name}: store id ${store.storeId}, ${type}${store.object.spec.default ? ", default" : ""}, Secret ${store.secretName}`);
  }
  for (const secret of plan.secrets) {
    const keys = Object.keys(secret.set.data).join(", ");
    const template = secret.set.missing.length === 0 ? "" : ` -- TEMPLATE: fill in ${secret.set.missing.join(", ")} by hand before applying`;
    lines.push(`  Secret ${secret.set.secretName}: ${keys}${template}`);
  }
  lines.push("");
  lines.push(`Glance will run (ConfigMap ${configMapName(plan.target.object.metadata.name)}, ${STORES_CONF_FILE}):`);
  lines.push(`  enabled_backends = ${plan.enabledBackends}`);
  lines.push(`  default_backend = ${plan.defaultBackend}`);
  lines.push("");

  const findings = [...plan.findings, ...model.findings, ...(input.extraFindings ?? [])];
  for (const secret of plan.secrets) {
    if (secret.set.missing.length === 0) continue;
    const none = Object.values(secret.set.data).every((value) => value === "" || value === "Default");
    findings.push({
      kind: "warning",
      message: none
        ? `the file sets no cinder_store_* credentials (a single-store Glance then reaches Cinder with each user's token, and image volumes are in the users' projects): create Secret ${secret.set.secretName} by hand with the Keystone user glance_store should use; the manifest is a template with empty values`
        : `the file lacks ${secret.set.missing.join(", ")} of Secret ${secret.set.secretName}: fill them in by hand; the manifest has empty values for them`,
    });
  }

  if (check !== undefined) {
    lines.push("Cinder (--check-cinder):");
    lines.push(...checkLines(input).map((line) => `  - ${line}`));
    lines.push("");
  } else {
    lines.push("Not known without --check-cinder:");
    const unset = plan.stores.filter((store) => store.volumeType.from === "unset");
    for (const store of unset) {
      lines.push(
        `  - Cinder's default volume type for the project of Secret ${store.secretName}: store ${store.storeId} sets no cinder_volume_type, so its legacy images are on that type; the operator would pin Cinder's default when it first renders the store, which is right only if the default has not changed since those images were written`,
      );
    }
    lines.push("  - image volumes (image-<uuid>) of volume types no migrated cinder store covers: Glance would leave their legacy images unmapped (cinder://<volume> with no store)");
    const templates = plan.secrets.filter((secret) => secret.set.missing.length > 0).map((secret) => secret.set.secretName);
    if (templates.length === 0) {
      lines.push(`  find out: ${input.checkCommand}`);
      lines.push("    (asks Keystone and Cinder with the file's credentials; reads only), or with those credentials:");
    } else {
      lines.push(`  find out, once you know the credentials of Secret ${templates.join(", ")} (--check-cinder needs them in the file), with those credentials:`);
    }
    if (unset.length > 0) lines.push("    openstack volume type list --default");
    lines.push("    openstack volume list --long -f value -c Name -c Type | awk '$1 ~ /^image-/ {print $2}' | sort | uniq -c");
    lines.push("");
  }

  for (const [kind, title] of SECTIONS) {
    const ofKind = findings.filter((finding) => finding.kind === kind);
    if (ofKind.length === 0) continue;
    lines.push(`${title}:`);
    for (const finding of ofKind) lines.push(`  - ${where(finding)}${finding.message}`);
    lines.push("");
  }

  lines.push(...mainConfigLines(model, plan));
  return `${redactSecrets(lines.join("\n").replace(/\n+$/, ""), model.secretValues.concat(secretValuesOf(plan)))}\n`;
}

function where(finding: Finding): string {
  if (finding.section === undefined) return "";
  return finding.option === undefined ? `[${finding.section}]: ` : `[${finding.section}] ${finding.option}: `;
}

function checkLines(input: ReportInput): string[] {
  const { plan, check } = input;
  if (check === undefined) return [];
  const lines: string[] = [];
  for (const store of plan.stores) {
    if (store.volumeType.from !== "pinned") continue;
    const project = projectOf(input, store.secretName, store.volumeType.projectId);
    lines.push(`cinder_volume_type was unset; Cinder's default type for project ${project} is ${store.volumeType.name}; pinned (GlanceStore ${store.object.metadata.name}, spec.volumeType)`);
  }
  for (const store of plan.stores) {
    const problem = check.typeProblems.get(store.position);
    if (problem !== undefined) lines.push(`store ${store.storeId}: ${problem}; the operator will not render the store until the type is usable`);
  }
  const covered = new Map<string, string[]>();
  for (const store of plan.stores) {
    if (store.volumeType.from === "unset") continue;
    covered.set(store.volumeType.name, [...(covered.get(store.volumeType.name) ?? []), store.storeId]);
  }
  for (const project of check.imageVolumes) {
    const label = project.projectName === undefined ? project.projectId : `${project.projectName} (${project.projectId})`;
    const counts = project.byType.map((entry) => {
      const stores = entry.volumeType === undefined ? undefined : covered.get(entry.volumeType);
      return `${entry.volumeType ?? "(no type)"} ${entry.count}${stores === undefined ? "" : ` (store ${stores.join(", ")})`}`;
    });
    lines.push(`image volumes in project ${label} (Secret ${project.secretName}): ${counts.length === 0 ? "none" : counts.join(", ")}`);
    for (const entry of project.byType) {
      if (entry.volumeType !== undefined && covered.has(entry.volumeType)) continue;
      const noun = entry.count === 1 ? "image volume" : "image volumes";
      lines.push(
        entry.volumeType === undefined
          ? `${entry.count} ${noun} without a volume type: their legacy images would stay unmapped (Glance maps by type)`
          : `${entry.count} ${noun} of type ${entry.volumeType}: their legacy images would stay unmapped (no migrated cinder store has that type; add a GlanceStore with volumeType ${entry.volumeType} to keep them readable)`,
      );
    }
  }
  return lines;
}

function projectOf(input: ReportInput, secretName: string, projectId: string): string {
  const secret = input.plan.secrets.find((s) => s.set.secretName === secretName);
  const name = secret?.set.data["projectName"];
  return name === undefined || name === "" ? projectId : `${name} (${projectId})`;
}

function mainConfigLines(model: SourceModel, plan: Extract<PlanResult, { ok: true }>): string[] {
  const lines: string[] = ["Change glance-api.conf (the main file) when glance-api mounts the operator's files:"];
  const moving = model.mode === "legacy" ? model.others : [];
  if (moving.length > 0) {
    lines.push("  add these sections: a multi-store Glance reads a store's options from its own section, not from [glance_store]");
    lines.push("  (keep the same values, e.g. the same filesystem_store_datadir, so existing images are found):");
    for (const store of moving.filter((s) => s.moveOptions.length > 0)) {
      lines.push("", `    [${store.id}]`);
      for (const option of store.moveOptions) {
        lines.push(option.secret ? `    ${option.name} = <the value of [glance_store] ${option.name}>` : `    ${option.name} = ${iniValue(option.value)}`);
      }
    }
    const bare = moving.filter((s) => s.moveOptions.length === 0);
    if (bare.length > 0) lines.push("", `    (${bare.map((s) => `${s.id} (${s.type})`).join(", ")}: no option set in [glance_store], so no section needed)`);
    lines.push("");
  } else if (model.others.length > 0) {
    lines.push(`  keep the sections ${model.others.map((store) => `[${store.id}]`).join(", ")}: the operator only names these stores in enabled_backends`);
  }
  if (model.removeFromMain.length > 0) {
    lines.push("  remove (the operator's files set enabled_backends and default_backend, and the cinder stores' options and credentials):");
    const bySection = new Map<string, string[]>();
    for (const item of model.removeFromMain) bySection.set(item.section, [...(bySection.get(item.section) ?? []), ...(item.option === undefined ? [] : [item.option])]);
    for (const [section, options] of bySection) lines.push(`    [${section}]${options.length === 0 ? " (the whole section)" : `: ${options.join(", ")}`}`);
  }
  if (model.mode === "multi") {
    lines.push(`  (the operator's files override the main file's enabled_backends and default_backend with ${plan.enabledBackends}; ${plan.defaultBackend})`);
  }
  return lines;
}

/** A value as a line of an oslo.config file: quoted when stripping or quote removal would change it. */
function iniValue(raw: string): string {
  if (raw === pythonStrip(raw) && !/^["']/.test(raw)) return raw;
  return `"${raw}"`;
}

function secretValuesOf(plan: Extract<PlanResult, { ok: true }>): string[] {
  return plan.secrets.flatMap((secret) => [secret.set.data["password"], secret.set.data["applicationCredentialSecret"]].filter((value): value is string => value !== undefined && value !== ""));
}
