/**
 * Would glance-api start with this pair of files? Asked of the REAL
 * oslo.config and glance_store of Debian's python3, the way glance-api
 * reads them at start: both files merged from one --config-dir,
 * `enabled_backends` as a dict option, glance_store's per-store options
 * registered and read with their types. What glance-api checks next is
 * checked here too: a default_backend that is one of the stores, no
 * reserved `os_glance_` id, and service credentials complete for every
 * cinder store (glance_store's `is_user_overriden`).
 *
 * The first cinder store's credentials are returned, not tried: glance_store
 * opens its one Cinder session with them (a wrong password makes glance-api
 * exit 99), and the caller compares them offline with the sets it knows to
 * be valid. Authenticating with a possibly wrong password would feed
 * Keystone's lockout.
 *
 * One python process reads many config dirs: its start-up (about 1.5 s of
 * imports) is paid once per batch.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "../../src/devstack/command.js";
import { CREDENTIALS_CONF_FILE, STORES_CONF_FILE } from "../../src/render/render.js";

export interface FirstCinderCredentials {
  readonly authUrl: string | null;
  readonly username: string | null;
  readonly userDomainName: string | null;
  readonly password: string | null;
  readonly projectName: string | null;
  readonly projectDomainName: string | null;
}

export interface GlanceConfigReport {
  readonly dir: string;
  /** Why glance-api would refuse to start (empty: it would start). */
  readonly errors: readonly string[];
  /** enabled_backends keys in order. */
  readonly ids: readonly string[];
  readonly defaultBackend: string | null;
  /** The store whose credentials open glance_store's Cinder session. */
  readonly firstCinder: string | null;
  readonly firstCinderCredentials: FirstCinderCredentials | null;
  /** Per store, the non-secret options as oslo.config hands them to glance_store (for messages and checks). */
  readonly stores: Readonly<Record<string, Readonly<Record<string, string | number | boolean | null>>>>;
}

const SCRIPT = String.raw`
import json, sys
from oslo_config import cfg
from glance_store import multi_backend

CREDENTIAL_OPTIONS = ['cinder_store_auth_address', 'cinder_store_user_name', 'cinder_store_password', 'cinder_store_project_name']

def check(config_dir):
    report = {'dir': config_dir, 'errors': [], 'ids': [], 'defaultBackend': None, 'firstCinder': None, 'firstCinderCredentials': None, 'stores': {}}
    errors = report['errors']
    conf = cfg.ConfigOpts()
    # As glance/common/config.py registers it.
    conf.register_opt(cfg.DictOpt('enabled_backends'))
    try:
        conf(args=['--config-dir', config_dir], project='glance', prog='glance-api', default_config_files=[], default_config_dirs=[])
        backends = conf.enabled_backends
    except Exception as error:
        errors.append('oslo.config refused the files: %s: %s' % (type(error).__name__, error))
        return report
    if not backends:
        errors.append('enabled_backends is empty or unset: glance-api runs no store')
        return report
    report['ids'] = list(backends.keys())
    try:
        multi_backend.register_store_opts(conf)
        report['defaultBackend'] = conf.glance_store.default_backend
    except Exception as error:
        errors.append('glance_store refused enabled_backends: %s: %s' % (type(error).__name__, error))
        return report
    for store_id, store_type in backends.items():
        if store_id.startswith('os_glance_'):
            errors.append('store id %r is reserved (os_glance_): glance-api refuses to start' % store_id)
        values = {}
        try:
            for key in conf[store_id]:
                values[key] = getattr(conf[store_id], key)
        except Exception as error:
            errors.append('store %r: an option does not parse: %s: %s' % (store_id, type(error).__name__, error))
            continue
        if store_type != 'cinder':
            errors.append('store %r has type %r; this operator renders cinder stores only' % (store_id, store_type))
            continue
        missing = [key for key in CREDENTIAL_OPTIONS if not values.get(key)]
        if missing:
            errors.append('store %r lacks %s: glance_store would not use service credentials for it' % (store_id, ', '.join(missing)))
        if report['firstCinder'] is None:
            report['firstCinder'] = store_id
            report['firstCinderCredentials'] = {
                'authUrl': values.get('cinder_store_auth_address'),
                'username': values.get('cinder_store_user_name'),
                'userDomainName': values.get('cinder_store_user_domain_name'),
                'password': values.get('cinder_store_password'),
                'projectName': values.get('cinder_store_project_name'),
                'projectDomainName': values.get('cinder_store_project_domain_name'),
            }
        values.pop('cinder_store_password', None)
        report['stores'][store_id] = {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool)) or v is None}
    default = report['defaultBackend']
    if not default:
        errors.append('[glance_store] default_backend is unset: glance-api refuses to start')
    elif default not in backends:
        errors.append('default_backend %r is not in enabled_backends %s: glance-api refuses to start' % (default, list(backends.keys())))
    return report

for line in sys.stdin:
    line = line.strip()
    if line:
        sys.stdout.write(json.dumps(check(line)) + '\n')
`;

/** Writes one pair as the kubelet would mount it (both keys into one directory). */
export async function writePairDir(dir: string, storesConf: string, credentialsConf: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, STORES_CONF_FILE), storesConf, { mode: 0o600 });
  await writeFile(join(dir, CREDENTIALS_CONF_FILE), credentialsConf, { mode: 0o600 });
  return dir;
}

/** Reads each directory as glance-api would; one report per directory, in order. */
export async function readGlanceConfigs(dirs: readonly string[]): Promise<GlanceConfigReport[]> {
  if (dirs.length === 0) return [];
  const result = await runCommand("/usr/bin/python3", ["-c", SCRIPT], {
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", PYTHONIOENCODING: "utf-8", HOME: "/nonexistent" },
    input: `${dirs.join("\n")}\n`,
    allowFailure: true,
    timeoutMs: 120_000,
  });
  const reports = result.stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as GlanceConfigReport);
  if (result.code !== 0 || reports.length !== dirs.length) {
    throw new Error(`the oslo.config check exited ${result.code} with ${reports.length} of ${dirs.length} reports: ${result.stderr.slice(-2000)}`);
  }
  return reports;
}
