import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface CertificateAuthority extends CertificateFiles {
  readonly certPem: string;
}

/**
 * A throw-away certificate authority for one local stack, made with the
 * machine's openssl (Node can make keys but not X.509 certificates).
 * P-256 keys: fast to make and accepted by Go, Node and Python clients.
 */
export async function createCertificateAuthority(directory: string, commonName: string): Promise<CertificateAuthority> {
  const certFile = join(directory, "ca.crt");
  const keyFile = join(directory, "ca.key");
  await openssl([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyFile, "-out", certFile, "-days", "3650", "-subj", `/CN=${commonName}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { certFile, keyFile, certPem: await readFile(certFile, "utf8") };
}

export interface IssueOptions {
  readonly name: string;
  readonly commonName: string;
  readonly organizations?: readonly string[];
  readonly usage: "server" | "client";
  readonly ipAddresses?: readonly string[];
  readonly dnsNames?: readonly string[];
}

export async function issueCertificate(directory: string, ca: CertificateFiles, options: IssueOptions): Promise<CertificateFiles> {
  const certFile = join(directory, `${options.name}.crt`);
  const keyFile = join(directory, `${options.name}.key`);
  const csrFile = join(directory, `${options.name}.csr`);
  const extFile = join(directory, `${options.name}.ext`);
  const subject = [...(options.organizations ?? []).map((o) => `/O=${o}`), `/CN=${options.commonName}`].join("");
  await openssl([
    "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyFile, "-out", csrFile, "-subj", subject,
  ]);
  const altNames = [
    ...(options.ipAddresses ?? []).map((ip) => `IP:${ip}`),
    ...(options.dnsNames ?? []).map((dns) => `DNS:${dns}`),
  ];
  const extensions = [
    "basicConstraints=critical,CA:FALSE",
    options.usage === "server" ? "keyUsage=critical,digitalSignature,keyEncipherment" : "keyUsage=critical,digitalSignature",
    `extendedKeyUsage=${options.usage === "server" ? "serverAuth" : "clientAuth"}`,
    ...(altNames.length > 0 ? [`subjectAltName=${altNames.join(",")}`] : []),
  ];
  await writeFile(extFile, `${extensions.join("\n")}\n`);
  await openssl([
    "x509", "-req", "-in", csrFile, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-CAcreateserial",
    "-out", certFile, "-days", "3650", "-extfile", extFile,
  ]);
  return { certFile, keyFile };
}

/** An RSA key pair in PEM files, for service account token signing. */
export async function createRsaKeyPair(directory: string, name: string): Promise<{ privateKeyFile: string; publicKeyFile: string }> {
  const privateKeyFile = join(directory, `${name}.key`);
  const publicKeyFile = join(directory, `${name}.pub`);
  await openssl(["genrsa", "-out", privateKeyFile, "2048"]);
  await openssl(["rsa", "-in", privateKeyFile, "-pubout", "-out", publicKeyFile]);
  return { privateKeyFile, publicKeyFile };
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run("openssl", args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}. Is openssl installed (Debian package openssl)?`, { cause: error });
  }
}
