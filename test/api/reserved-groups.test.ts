/**
 * Re-collects the option groups of the installed glance-api (Debian's
 * glance 25 and glance_store) and checks that RESERVED_GROUP_NAMES covers
 * every one a store id could collide with. Fails when a Glance upgrade adds
 * a group, so the list is updated with it.
 */
import test from "ava";
import { runCommand } from "../../src/devstack/command.js";
import { RESERVED_GROUP_NAMES, RESERVED_GROUP_PREFIXES, STORE_ID_PATTERN, storeIdProblem } from "../../src/api/store-id.js";

const SCRIPT = String.raw`
import importlib, json, logging, sys
logging.disable(logging.CRITICAL)
from oslo_config import cfg, generator
names = set()
# The namespaces of glance's etc/oslo-config-generator/glance-api.conf.
for namespace in ["glance.api", "glance.store", "glance.multi_store", "oslo.concurrency", "oslo.messaging", "oslo.db", "oslo.policy",
                  "keystonemiddleware.auth_token", "oslo.log", "oslo.middleware.cors", "oslo.middleware.healthcheck",
                  "oslo.middleware.http_proxy_to_wsgi", "oslo.limit", "castellan.config", "oslo.reports", "osprofiler"]:
    try:
        for _, groups in generator._list_opts([namespace]):
            for group, _ in groups:
                names.add("DEFAULT" if group is None else group if isinstance(group, str) else group.name)
    except Exception:
        pass
# What importing glance-api's application registers at run time.
for module in ["glance.common.wsgi_app", "glance.cmd.api", "glance.api.v2.router", "glance.async_.flows.api_image_import",
               "glance_store.multi_backend", "os_brick.initiator.connectors.base"]:
    try:
        importlib.import_module(module)
    except Exception:
        pass
names.update(cfg.CONF._groups)
sys.stdout.write(json.dumps(sorted(names)))
`;

test("every option group of the installed glance-api is refused as a store id", async (t) => {
  const { stdout } = await runCommand("/usr/bin/python3", ["-c", SCRIPT], { env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" }, timeoutMs: 120_000 });
  const groups = JSON.parse(stdout) as string[];
  t.true(groups.includes("keystone_authtoken") && groups.includes("glance_store"), `collected too little: ${stdout}`);
  const collidable = groups.map((g) => g.toLowerCase()).filter((g) => STORE_ID_PATTERN.test(g));
  const uncovered = collidable.filter((g) => !(RESERVED_GROUP_NAMES as readonly string[]).includes(g) && !RESERVED_GROUP_PREFIXES.some((p) => g.startsWith(p)));
  t.deepEqual(uncovered, [], "add these to RESERVED_GROUP_NAMES in src/api/store-id.ts");
  for (const group of collidable) t.not(storeIdProblem(group), undefined, group);
});
