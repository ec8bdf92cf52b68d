import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Agent, request } from "undici";
import { stringify } from "yaml";
import type { DevBinaries } from "./binaries.js";
import { runCommand, type CommandResult } from "./command.js";
import { createCertificateAuthority, createRsaKeyPair, issueCertificate } from "./certs.js";
import type { PortAllocator } from "./ports.js";
import type { ManagedProcess, ProcessSupervisor } from "./processes.js";
import { waitFor } from "./wait.js";

export interface KubeCluster {
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** A kubeconfig with cluster-admin (system:masters) client certificates. */
  readonly kubeconfigPath: string;
  readonly caPem: string;
  readonly kubectlPath: string;
  readonly helmPath: string;
  /** The running kube-apiserver (a new process after `startApiserver()`). */
  readonly apiserver: ManagedProcess;
  readonly etcd: ManagedProcess;
  /**
   * Stops kube-apiserver (SIGTERM, as in a rolling restart) and leaves etcd
   * running, so tests can see what clients do while the API is gone.
   */
  stopApiserver(): Promise<void>;
  /** Starts kube-apiserver again on the same port with the same etcd; resolves once /readyz answers ok. */
  startApiserver(): Promise<void>;
  /**
   * A kubeconfig that authenticates as `user` (and `groups`) with a client
   * certificate, and is authorized by RBAC only: e.g.
   * `system:serviceaccount:<namespace>:<name>` to act as a ServiceAccount.
   */
  kubeconfigFor(user: string, groups?: readonly string[], options?: { readonly server?: string }): Promise<string>;
  /** The admin's kubeconfig with another server URL, e.g. a fault proxy in front of kube-apiserver (its certificate has IP SAN 127.0.0.1). */
  kubeconfigVia(server: string): Promise<string>;
  /**
   * The apiserver's audit log (JSON lines): one event per completed write
   * (create, update, patch, delete) of ConfigMaps, Secrets, GlanceStores and
   * their subresources, Leases, Deployments, StatefulSets and Events, and
   * every request of a user in the group system:serviceaccounts, at
   * Metadata level (who, what, when; never a body). Kept across apiserver restarts.
   */
  readonly auditLogPath: string;
  readAuditLog(): Promise<AuditEvent[]>;
  /** Runs the real kubectl against this cluster. Rejects on a non-zero exit unless `allowFailure`. */
  kubectl(args: readonly string[], options?: { input?: string; allowFailure?: boolean }): Promise<CommandResult>;
  /** Runs the real helm against this cluster. */
  helm(args: readonly string[], options?: { allowFailure?: boolean }): Promise<CommandResult>;
}

/** One line of the apiserver's audit log, the fields tests read. */
export interface AuditEvent {
  readonly auditID: string;
  readonly stage: string;
  readonly verb: string;
  readonly requestURI: string;
  readonly user: { readonly username: string; readonly groups?: readonly string[] };
  readonly objectRef?: {
    readonly resource?: string;
    readonly subresource?: string;
    readonly namespace?: string;
    readonly name?: string;
    readonly apiGroup?: string;
  };
  readonly responseStatus?: { readonly code?: number };
  readonly userAgent?: string;
  /** RFC 3339 with microseconds. */
  readonly requestReceivedTimestamp: string;
  readonly stageTimestamp: string;
}

/** Writes only, at Metadata level: attribution of every change without logging a Secret's data. */
export const AUDIT_POLICY = {
  apiVersion: "audit.k8s.io/v1",
  kind: "Policy",
  omitStages: ["RequestReceived"],
  rules: [
    {
      level: "Metadata",
      verbs: ["create", "update", "patch", "delete", "deletecollection"],
      resources: [
        { group: "", resources: ["configmaps", "secrets", "events"] },
        { group: "events.k8s.io", resources: ["events"] },
        { group: "glance.stores.dev", resources: ["glancestores", "glancestores/*"] },
        { group: "coordination.k8s.io", resources: ["leases"] },
        { group: "apps", resources: ["deployments", "statefulsets"] },
      ],
    },
    // Every request of a ServiceAccount user, reads included: a test runs the operator as the chart's
    // ServiceAccount and compares what it asked for with what the chart grants.
    { level: "Metadata", userGroups: ["system:serviceaccounts"] },
    { level: "None" },
  ],
} as const;

export interface StartKubeOptions {
  readonly directory: string;
  readonly supervisor: ProcessSupervisor;
  readonly ports: PortAllocator;
  readonly binaries: DevBinaries;
  readonly timeoutMs?: number;
}

/**
 * etcd and kube-apiserver on loopback, TLS with a CA made for this stack and
 * RBAC on, the way envtest runs them. No controller-manager: the tests here
 * need the API (admission, CEL, status, watches, leases), not pods.
 */
export async function startKube(options: StartKubeOptions): Promise<KubeCluster> {
  const { directory, supervisor, ports, binaries } = options;
  const timeoutMs = options.timeoutMs ?? 90_000;
  const pki = join(directory, "pki");
  await mkdir(pki, { recursive: true });
  const ca = await createCertificateAuthority(pki, "glance-store-operator dev CA");
  const serving = await issueCertificate(pki, ca, {
    name: "apiserver",
    commonName: "kube-apiserver",
    usage: "server",
    ipAddresses: ["127.0.0.1"],
    dnsNames: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
  });
  const admin = await issueCertificate(pki, ca, {
    name: "admin",
    commonName: "dev-admin",
    organizations: ["system:masters"],
    usage: "client",
  });
  const serviceAccountKey = await createRsaKeyPair(pki, "service-account");

  const [etcdClientPort, etcdPeerPort, apiPort] = [await ports.allocate(), await ports.allocate(), await ports.allocate()];
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const etcd = supervisor.start({
    name: "etcd",
    command: binaries.etcd,
    args: [
      "--name", "dev",
      "--data-dir", join(directory, "etcd-data"),
      "--listen-client-urls", etcdUrl,
      "--advertise-client-urls", etcdUrl,
      "--listen-peer-urls", `http://127.0.0.1:${etcdPeerPort}`,
      "--initial-advertise-peer-urls", `http://127.0.0.1:${etcdPeerPort}`,
      "--initial-cluster", `dev=http://127.0.0.1:${etcdPeerPort}`,
      "--listen-metrics-urls", "",
      // A throw-away store: durability only costs time here.
      "--unsafe-no-fsync",
      "--log-level", "warn",
    ],
  });

  const server = `https://127.0.0.1:${apiPort}`;
  const auditPolicyPath = join(directory, "audit-policy.yaml");
  const auditLogPath = join(directory, "audit.log");
  await writeFile(auditPolicyPath, stringify(AUDIT_POLICY));
  let apiserverStarts = 0;
  const launchApiserver = (): ManagedProcess => supervisor.start({
    // A restarted apiserver logs to its own file, so the first one's log survives.
    name: apiserverStarts++ === 0 ? "kube-apiserver" : `kube-apiserver-${apiserverStarts}`,
    command: binaries.kubeApiserver,
    args: [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${serving.certFile}`,
      `--tls-private-key-file=${serving.keyFile}`,
      `--client-ca-file=${ca.certFile}`,
      "--service-account-issuer=https://kubernetes.default.svc",
      `--service-account-key-file=${serviceAccountKey.publicKeyFile}`,
      `--service-account-signing-key-file=${serviceAccountKey.privateKeyFile}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--authorization-mode=RBAC",
      // No controller-manager makes service account tokens or default accounts.
      "--disable-admission-plugins=ServiceAccount",
      // As OpenShift and hardened clusters run it: changing an object's ownerReferences needs delete on it, and
      // blockOwnerDeletion: true needs update on the owner's finalizers subresource (docs/security.md).
      "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
      "--allow-privileged=true",
      `--cert-dir=${join(directory, "apiserver-certs")}`,
      "--profiling=false",
      `--audit-policy-file=${auditPolicyPath}`,
      `--audit-log-path=${auditLogPath}`,
      "--audit-log-format=json",
      // Written before the response is sent, so a test that got an answer finds the event.
      "--audit-log-mode=blocking",
      "--audit-log-maxbackup=0",
      "--v=1",
    ],
  });
  let apiserver = launchApiserver();

  const writeKubeconfig = async (path: string, user: string, cert: Buffer, key: Buffer, serverUrl = server): Promise<void> => {
    await writeFile(
      path,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "dev", cluster: { server: serverUrl, "certificate-authority-data": Buffer.from(ca.certPem).toString("base64") } }],
        users: [{ name: user, user: { "client-certificate-data": cert.toString("base64"), "client-key-data": key.toString("base64") } }],
        contexts: [{ name: "dev", context: { cluster: "dev", user, namespace: "default" } }],
        "current-context": "dev",
      }),
      { mode: 0o600 },
    );
  };
  const kubeconfigPath = join(directory, "kubeconfig");
  const [adminCert, adminKey] = await Promise.all([readFile(admin.certFile), readFile(admin.keyFile)]);
  await writeKubeconfig(kubeconfigPath, "dev-admin", adminCert, adminKey);
  let issued = 0;
  const kubeconfigFor = async (user: string, groups: readonly string[] = [], options: { readonly server?: string } = {}): Promise<string> => {
    issued += 1;
    const files = await issueCertificate(pki, ca, { name: `user-${issued}`, commonName: user, organizations: groups, usage: "client" });
    const path = join(directory, `kubeconfig-user-${issued}`);
    await writeKubeconfig(path, user, await readFile(files.certFile), await readFile(files.keyFile), options.server ?? server);
    return path;
  };
  let via = 0;
  const kubeconfigVia = async (serverUrl: string): Promise<string> => {
    via += 1;
    const path = join(directory, `kubeconfig-via-${via}`);
    await writeKubeconfig(path, "dev-admin", adminCert, adminKey, serverUrl);
    return path;
  };

  const waitUntilReady = async (): Promise<void> => {
    const dispatcher = new Agent({ connect: { ca: ca.certPem, cert: adminCert, key: adminKey } });
    try {
      await waitFor(
        async () => {
          const response = await request(`${server}/readyz`, { dispatcher, headersTimeout: 5_000, bodyTimeout: 5_000 });
          const body = await response.body.text();
          return response.statusCode === 200 && body.trim() === "ok" ? true : undefined;
        },
        {
          what: `kube-apiserver at ${server}/readyz`,
          timeoutMs,
          abortIf: () => exitedMessage(etcd) ?? exitedMessage(apiserver),
        },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- kube-apiserver log ---\n${await apiserver.logTail(30)}\n--- etcd log ---\n${await etcd.logTail(15)}`, { cause: error });
    } finally {
      await dispatcher.close();
    }
  };
  await waitUntilReady();

  const toolEnv = { ...process.env, KUBECONFIG: kubeconfigPath, HELM_CACHE_HOME: join(directory, "helm", "cache"), HELM_CONFIG_HOME: join(directory, "helm", "config"), HELM_DATA_HOME: join(directory, "helm", "data") };
  const command = async (path: string, args: readonly string[], input: string | undefined, allowFailure: boolean): Promise<CommandResult> => {
    return runCommand(path, args, { env: toolEnv, allowFailure, timeoutMs: 120_000, ...(input === undefined ? {} : { input }) });
  };

  return {
    server,
    kubeconfigPath,
    kubeconfigFor,
    kubeconfigVia,
    auditLogPath,
    readAuditLog: async () => {
      const text = await readFile(auditLogPath, "utf8").catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return "";
        throw error;
      });
      // A line being written while we read is incomplete: skip what does not parse.
      return text.split("\n").flatMap((line) => {
        if (line.trim() === "") return [];
        try {
          return [JSON.parse(line) as AuditEvent];
        } catch {
          return [];
        }
      });
    },
    caPem: ca.certPem,
    kubectlPath: binaries.kubectl,
    helmPath: binaries.helm,
    get apiserver() {
      return apiserver;
    },
    etcd,
    stopApiserver: async () => {
      await apiserver.stop();
    },
    startApiserver: async () => {
      if (apiserver.exitInfo() === undefined) {
        throw new Error(`kube-apiserver (pid ${apiserver.pid}) is still running; call stopApiserver() first`);
      }
      apiserver = launchApiserver();
      await waitUntilReady();
    },
    kubectl: (args, opts = {}) => command(binaries.kubectl, args, opts.input, opts.allowFailure ?? false),
    helm: (args, opts = {}) => command(binaries.helm, args, undefined, opts.allowFailure ?? false),
  };
}

function exitedMessage(process: ManagedProcess): string | undefined {
  const info = process.exitInfo();
  return info === undefined ? undefined : `${process.name} exited (code ${info.code}, signal ${info.signal}); see ${process.logFile}`;
}
