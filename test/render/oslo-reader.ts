import { runCommand } from "../../src/devstack/command.js";

/**
 * Reads a config dir the way glance-api does, with the REAL oslo.config and
 * glance_store of Debian's python3 (not a model of them): `--config-dir`,
 * `enabled_backends` as a dict option, glance_store's own registration of
 * the cinder options per store (so integers and booleans are typed as
 * glance_store types them), and string substitution on read. Options that
 * this glance_store does not register (store_description is registered only
 * when a store loads; newer options such as weight) are read as strings.
 *
 * Returns every option of every section found in the files, as oslo.config
 * hands it to Glance.
 */
export type OsloValue = string | number | boolean | Record<string, string> | null;
export type OsloSections = Record<string, Record<string, OsloValue>>;

export class OsloReadError extends Error {
  override readonly name = "OsloReadError";
}

const SCRIPT = String.raw`
import json, os, sys
from oslo_config import cfg
from glance_store import multi_backend

config_dir = sys.argv[1]
conf = cfg.ConfigOpts()
conf.register_opt(cfg.DictOpt('enabled_backends'))
try:
    conf(args=['--config-dir', config_dir], project='gso-oslo-check', default_config_files=[], default_config_dirs=[])
    multi_backend.register_store_opts(conf)
    present = {}
    for name in sorted(os.listdir(config_dir)):
        if not name.endswith('.conf'):
            continue
        parsed = {}
        cfg.ConfigParser(os.path.join(config_dir, name), parsed).parse()
        for section, options in parsed.items():
            present.setdefault(section, set()).update(options.keys())
    out = {}
    for section in sorted(present):
        group = None if section == 'DEFAULT' else section
        values = {}
        for key in sorted(present[section]):
            owner = conf if group is None else conf[group] if group in conf else None
            try:
                if owner is None:
                    raise cfg.NoSuchOptError(key, group)
                value = getattr(owner, key)
            except cfg.NoSuchOptError:
                conf.register_opt(cfg.StrOpt(key), group=group)
                value = getattr(conf if group is None else conf[group], key)
            values[key] = value
        out[section] = values
    sys.stdout.write(json.dumps(out))
except Exception as error:
    sys.stdout.write(json.dumps({'__error__': type(error).__name__ + ': ' + str(error)}))
    sys.exit(3)
`;

export async function readWithOslo(configDir: string): Promise<OsloSections> {
  const result = await runCommand("/usr/bin/python3", ["-c", SCRIPT, configDir], {
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", PYTHONIOENCODING: "utf-8" },
    allowFailure: true,
    timeoutMs: 60_000,
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new OsloReadError(`python3 exited ${result.code} without JSON: ${result.stderr.slice(-2000)}`);
  }
  if (typeof parsed === "object" && parsed !== null && "__error__" in parsed) {
    throw new OsloReadError(`oslo.config refused ${configDir}: ${String((parsed as { __error__: unknown }).__error__)}`);
  }
  return parsed as OsloSections;
}
