import { generateKeyPairSync, randomBytes, sign, X509Certificate } from "node:crypto";
import { isIP } from "node:net";

/**
 * A self-signed serving certificate (ECDSA P-256, SHA-256), made in memory
 * when the metrics endpoint serves HTTPS and no certificate was mounted, as
 * controller-runtime does. Node can make keys but not X.509 certificates,
 * and the operator's image has no openssl, so the few DER structures of a
 * certificate (RFC 5280) are written here. Nobody can verify it against a
 * CA: it encrypts the scrape and its bearer token; mount a certificate
 * (--metrics-cert-dir) for a scraper that verifies the server.
 */
export interface SelfSignedOptions {
  readonly commonName: string;
  /** DNS names and IP addresses for the subjectAltName extension. */
  readonly altNames: readonly string[];
  readonly validDays?: number;
  readonly now?: Date;
}

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

export function selfSignedCertificate(options: SelfSignedOptions): PemPair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const now = options.now ?? new Date();
  // An hour of slack for clocks behind ours.
  const notBefore = new Date(now.getTime() - 3_600_000);
  const notAfter = new Date(now.getTime() + (options.validDays ?? 365) * 86_400_000);
  const name = sequence(set(sequence(oid("2.5.4.3"), utf8(options.commonName))));
  const ecdsaWithSha256 = sequence(oid("1.2.840.10045.4.3.2"));
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const altNames = options.altNames.map((entry) =>
    isIP(entry) === 4 ? tagged(0x87, Buffer.from(entry.split(".").map(Number))) : isIP(entry) === 6 ? tagged(0x87, ipv6Bytes(entry)) : tagged(0x82, Buffer.from(entry, "ascii")),
  );
  const extensions = [
    // basicConstraints (critical): not a CA.
    sequence(oid("2.5.29.19"), boolean(true), octetString(sequence())),
    // keyUsage (critical): digitalSignature, all an ECDHE handshake needs.
    sequence(oid("2.5.29.15"), boolean(true), octetString(tagged(0x03, Buffer.from([0x07, 0x80])))),
    // extKeyUsage: serverAuth.
    sequence(oid("2.5.29.37"), octetString(sequence(oid("1.3.6.1.5.5.7.3.1")))),
    ...(altNames.length > 0 ? [sequence(oid("2.5.29.17"), octetString(sequence(...altNames)))] : []),
  ];
  const tbs = sequence(
    tagged(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    ecdsaWithSha256,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    tagged(0xa3, sequence(...extensions)),
  );
  // ECDSA signatures come DER-encoded (dsaEncoding "der"), as X.509 wants them.
  const signature = sign("sha256", tbs, privateKey);
  const der = sequence(tbs, ecdsaWithSha256, bitString(signature));
  const cert = `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
  // Parsing it back is the check that every structure above is well formed.
  const parsed = new X509Certificate(cert);
  if (!parsed.verify(publicKey)) throw new Error("the self-signed metrics certificate does not verify with its own key");
  return { cert, key: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

function tagged(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const sequence = (...contents: Buffer[]): Buffer => tagged(0x30, ...contents);
const set = (...contents: Buffer[]): Buffer => tagged(0x31, ...contents);
const utf8 = (text: string): Buffer => tagged(0x0c, Buffer.from(text, "utf8"));
const octetString = (content: Buffer): Buffer => tagged(0x04, content);
const bitString = (content: Buffer): Buffer => tagged(0x03, Buffer.from([0]), content);
const boolean = (value: boolean): Buffer => tagged(0x01, Buffer.from([value ? 0xff : 0]));

function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tagged(0x02, ((trimmed[0] as number) & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [40 * (arcs[0] as number) + (arcs[1] as number)];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc % 128];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift(0x80 | rest % 128);
    bytes.push(...chunk);
  }
  return tagged(0x06, Buffer.from(bytes));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() < 2050 ? tagged(0x17, Buffer.from(digits.slice(2), "ascii")) : tagged(0x18, Buffer.from(digits, "ascii"));
}

function ipv6Bytes(address: string): Buffer {
  const [head = "", tail = ""] = address.split("::");
  const groups = (part: string): number[] => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const front = groups(head);
  const back = address.includes("::") ? groups(tail) : [];
  const words = [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
  const out = Buffer.alloc(16);
  words.forEach((word, index) => out.writeUInt16BE(word, index * 2));
  return out;
}
