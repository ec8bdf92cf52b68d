/**
 * examples/: the glance-api Deployments the docs point to. They parse, they
 * mount the operator's ConfigMap and Secret at GLANCE_CONF_DIR and opt in to
 * rollouts, the real kube-apiserver accepts them (server-side dry run), and
 * the WSGI one passes uWSGI the settings the local stack's WSGI glance-api
 * runs with (test/devstack/glance-servers.test.ts), which Debian's uWSGI
 * accepts.
 */
import test from "ava";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { DEFAULT_TARGET } from "../../src/api/glancestore.js";
import { configMapName, credentialsSecretName, WORKLOAD_TARGET_ANNOTATION } from "../../src/controller/naming.js";
import { GLANCE_UWSGI_SETTINGS } from "../../src/devstack/glance.js";
import { SYSTEM_PATH } from "../../src/devstack/system-packages.js";
import { waitFor } from "../../src/devstack/wait.js";
import { GLANCE_CONF_DIR } from "../../src/render/glance-paths.js";
import { useStack } from "../support/stack.js";

const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Deployment {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec: {
    template: {
      spec: {
        containers: Container[];
        volumes?: { name: string; projected?: { sources: { configMap?: { name: string }; secret?: { name: string } }[] } }[];
      };
    };
  };
}

async function examples(): Promise<{ file: string; text: string; deployments: Deployment[] }[]> {
  const files = (await readdir(EXAMPLES)).filter((file) => file.endsWith(".yaml")).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(join(EXAMPLES, file), "utf8");
      const documents = parseAllDocuments(text);
      for (const document of documents) if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join("; ")}`);
      return { file, text, deployments: documents.map((document) => document.toJSON() as Deployment).filter((object) => object?.kind === "Deployment") };
    }),
  );
}

const argv = (container: Container): string[] => [...(container.command ?? []), ...(container.args ?? [])];

test("there is an example for each glance-api server, eventlet and WSGI under uWSGI", async (t) => {
  const all = (await examples()).flatMap((example) => example.deployments.flatMap((d) => d.spec.template.spec.containers.map(argv)));
  t.true(all.some((command) => command[0] === "glance-api"));
  t.true(all.some((command) => command[0] === "uwsgi" && command.includes("--wsgi-file=/usr/bin/glance-wsgi-api")));
});

test(`every example mounts the operator's ConfigMap and Secret at ${GLANCE_CONF_DIR}, read-only, without --config-dir, and opts in`, async (t) => {
  const found = await examples();
  t.true(found.length >= 2);
  for (const { file, deployments } of found) {
    t.is(deployments.length, 1, file);
    for (const deployment of deployments) {
      t.is(deployment.metadata.annotations?.[WORKLOAD_TARGET_ANNOTATION], DEFAULT_TARGET, file);
      const storeVolumes = (deployment.spec.template.spec.volumes ?? []).filter((volume) =>
        volume.projected?.sources.some((source) => source.configMap?.name === configMapName(DEFAULT_TARGET)),
      );
      t.is(storeVolumes.length, 1, file);
      const volume = storeVolumes[0];
      t.deepEqual(
        volume?.projected?.sources.map((source) => source.configMap?.name ?? source.secret?.name),
        [configMapName(DEFAULT_TARGET), credentialsSecretName(DEFAULT_TARGET)],
        file,
      );
      const mounts = deployment.spec.template.spec.containers.flatMap((container) => (container.volumeMounts ?? []).filter((mount) => mount.name === volume?.name));
      t.true(mounts.length > 0, file);
      for (const mount of mounts) {
        t.is(mount.mountPath, GLANCE_CONF_DIR, file);
        t.true(mount.readOnly, file);
      }
      for (const container of deployment.spec.template.spec.containers) t.false(argv(container).some((arg) => arg.startsWith("--config-dir")), file);
    }
  }
});

/** `--key=value` and `--flag` as uWSGI ini lines. */
function uwsgiSettings(command: readonly string[]): string[] {
  return command.slice(1).map((flag) => {
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(flag);
    if (!match) throw new Error(`not a uWSGI flag: ${flag}`);
    return `${match[1]} = ${match[2] ?? "true"}`;
  });
}

async function wsgiCommand(): Promise<string[]> {
  const commands = (await examples()).flatMap((example) => example.deployments.flatMap((d) => d.spec.template.spec.containers.map(argv)));
  const command = commands.find((c) => c[0] === "uwsgi");
  if (!command) throw new Error("no uWSGI example");
  return command;
}

test("the WSGI example passes uWSGI the settings the local stack's WSGI glance-api runs with", async (t) => {
  const settings = uwsgiSettings(await wsgiCommand());
  for (const setting of GLANCE_UWSGI_SETTINGS) t.true(settings.includes(setting), `${setting} missing from examples/glance-api-wsgi.yaml`);
  // And those that src/devstack/uwsgi.ts sets for every app.
  for (const setting of ["plugins = python3", "master = true", "need-app = true", "die-on-term = true", "buffer-size = 65535", "wsgi-file = /usr/bin/glance-wsgi-api"]) t.true(settings.includes(setting), setting);
  t.true(settings.some((setting) => setting.startsWith("http11-socket = ")));
});

const local = useStack({ openstack: false });

test.serial("Debian's uWSGI accepts every flag of the WSGI example and serves with them", async (t) => {
  const stack = local.stack();
  const port = await stack.ports.allocate();
  const app = join(stack.directory, "hello-wsgi.py");
  // With a Content-Length, as Glance sends: on a kept-alive HTTP/1.1 connection the body would not end otherwise.
  await writeFile(app, 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])\n    return [b"hello"]\n');
  // The example's flags, on loopback and with a stand-in app instead of Glance.
  const flags = (await wsgiCommand())
    .slice(1)
    .map((flag) => (flag.startsWith("--http11-socket=") ? `--http11-socket=127.0.0.1:${port}` : flag.startsWith("--wsgi-file=") ? `--wsgi-file=${app}` : flag));
  const uwsgi = stack.supervisor.start({ name: "uwsgi-example-flags", command: "/usr/bin/uwsgi-core", args: flags, env: { PATH: SYSTEM_PATH, LANG: "C.UTF-8" } });
  try {
    await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
        return response.status === 200 && (await response.text()) === "hello" ? true : undefined;
      },
      { what: "uWSGI with the example's flags", timeoutMs: 60_000, abortIf: () => (uwsgi.exitInfo() ? "exited" : undefined) },
    );
    t.pass();
  } catch (error) {
    t.fail(`${(error as Error).message}\n${await uwsgi.logTail(30)}`);
  } finally {
    await uwsgi.stop();
  }
});

test.serial("the real kube-apiserver accepts every example (server-side dry run)", async (t) => {
  const kube = local.kube();
  const namespaces = new Set((await examples()).flatMap((example) => example.deployments.map((d) => d.metadata.namespace ?? "default")));
  for (const namespace of namespaces) await kube.kubectl(["create", "namespace", namespace], { allowFailure: true });
  for (const { file } of await examples()) {
    const result = await kube.kubectl(["apply", "--dry-run=server", "--validate=strict", "-f", join(EXAMPLES, file)], { allowFailure: true });
    t.is(result.code, 0, `${file}: ${result.stderr}`);
    t.regex(result.stdout, /deployment\.apps\/glance-api created \(server dry run\)/, file);
  }
});
