import test from "ava";
import fc from "fast-check";
import { credentialsKey, decodeSecretData, parseCredentialsSecret, type ResolvedCredentials } from "../../src/api/credentials.js";

const KEYSTONE = "https://keystone.example.com/v3";
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const base = { authUrl: KEYSTONE, username: "glance", password: "s3cr3t pass", projectName: "service" };

const VALID: readonly { name: string; data: Record<string, string>; cloud?: string; expect: ResolvedCredentials }[] = [
  {
    name: "password: the domains default to Default",
    data: base,
    expect: { auth: { kind: "password", ...base, userDomainName: "Default", projectDomainName: "Default" } },
  },
  {
    name: "password with domain ids: no name is invented for them",
    data: { ...base, userDomainId: "d1", projectDomainId: "d2" },
    expect: { auth: { kind: "password", ...base, userDomainId: "d1", projectDomainId: "d2" } },
  },
  {
    name: "password with a project id instead of a name",
    data: { authUrl: KEYSTONE, username: "glance", password: "p", projectId: "0123abcd" },
    expect: { auth: { kind: "password", authUrl: KEYSTONE, username: "glance", password: "p", projectId: "0123abcd", userDomainName: "Default", projectDomainName: "Default" } },
  },
  {
    name: "a password is kept exactly, surrounding spaces, quotes and $ included",
    data: { ...base, password: ` "pa$$ w'rd" ` },
    expect: { auth: { kind: "password", ...base, password: ` "pa$$ w'rd" `, userDomainName: "Default", projectDomainName: "Default" } },
  },
  {
    name: "an @ in the path of authUrl is no user information",
    data: { ...base, authUrl: "https://keystone.example.com/identity@v3" },
    expect: { auth: { kind: "password", ...base, authUrl: "https://keystone.example.com/identity@v3", userDomainName: "Default", projectDomainName: "Default" } },
  },
  {
    name: "application credential",
    data: { authUrl: KEYSTONE, applicationCredentialId: "ac-id", applicationCredentialSecret: "ac-secret" },
    expect: { auth: { kind: "applicationCredential", authUrl: KEYSTONE, applicationCredentialId: "ac-id", applicationCredentialSecret: "ac-secret" } },
  },
  {
    name: "caCert PEM",
    data: { ...base, caCert: PEM },
    expect: { auth: { kind: "password", ...base, userDomainName: "Default", projectDomainName: "Default" }, caCertPem: PEM },
  },
  {
    name: "clouds.yaml, cloud named by the reference",
    cloud: "prod",
    data: {
      "clouds.yaml": `clouds:\n  test: {auth: {auth_url: http://x/v3, username: u, password: p, project_name: p}}\n  prod:\n    region_name: RegionOne\n    auth:\n      auth_url: ${KEYSTONE}\n      username: glance\n      password: "0123"\n      project_name: service\n      user_domain_name: Users\n`,
    },
    expect: { auth: { kind: "password", authUrl: KEYSTONE, username: "glance", password: "0123", projectName: "service", userDomainName: "Users", projectDomainName: "Default" } },
  },
  {
    name: "clouds.yaml, cloud named by the Secret key cloud",
    data: {
      "clouds.yaml": `clouds:\n  a: {auth: {auth_url: "${KEYSTONE}", username: a, password: pa, project_name: s}}\n  b: {auth: {auth_url: "${KEYSTONE}", username: b, password: pb, project_name: s}}\n`,
      cloud: "b",
    },
    expect: { auth: { kind: "password", authUrl: KEYSTONE, username: "b", password: "pb", projectName: "s", userDomainName: "Default", projectDomainName: "Default" } },
  },
  {
    name: "clouds.yaml with one cloud and an application credential",
    data: { "clouds.yaml": `clouds:\n  only:\n    auth_type: v3applicationcredential\n    auth: {auth_url: "${KEYSTONE}", application_credential_id: id, application_credential_secret: sec}\n` },
    expect: { auth: { kind: "applicationCredential", authUrl: KEYSTONE, applicationCredentialId: "id", applicationCredentialSecret: "sec" } },
  },
];

for (const row of VALID) {
  test(`parses: ${row.name}`, (t) => {
    const result = parseCredentialsSecret(row.data, { name: "glance-cinder", ...(row.cloud === undefined ? {} : { cloud: row.cloud }) });
    t.deepEqual(result, { ok: true, credentials: row.expect });
  });
}

const INVALID: readonly { name: string; data: Record<string, string>; cloud?: string; key: string | readonly string[]; message?: RegExp }[] = [
  { name: "no authUrl", data: { username: "u", password: "p", projectName: "s" }, key: "authUrl", message: /lacks key authUrl/ },
  { name: "no username", data: { authUrl: KEYSTONE, password: "p", projectName: "s" }, key: "username" },
  { name: "no password", data: { authUrl: KEYSTONE, username: "u", projectName: "s" }, key: "password" },
  { name: "no project", data: { authUrl: KEYSTONE, username: "u", password: "p" }, key: "projectName" },
  { name: "an empty password", data: { ...base, password: "" }, key: "password", message: /is empty/ },
  { name: "a password ending with a line break", data: { ...base, password: "s3cr3t\n" }, key: "password", message: /echo/ },
  { name: "a username with a NUL", data: { ...base, username: "glan\u0000ce" }, key: "username", message: /control character/ },
  { name: "authUrl not http(s)", data: { ...base, authUrl: "keystone.example.com/v3" }, key: "authUrl", message: /not an http/ },
  { name: "authUrl with user and password", data: { ...base, authUrl: "https://glance:hunter2@keystone.example.com/v3" }, key: "authUrl", message: /^Secret "glance-cinder" key authUrl holds user information .*ConfigMap/ },
  { name: "authUrl with a password and an empty user", data: { ...base, authUrl: "https://:hunter2@keystone.example.com:5000/v3" }, key: "authUrl", message: /key authUrl holds user information/ },
  { name: "authUrl with a user only", data: { ...base, authUrl: "http://hunter2@keystone.example.com/v3" }, key: "authUrl", message: /key authUrl holds user information/ },
  { name: "authUrl with a backslash in the user information (a path to WHATWG URL, user information to Python's urllib)", data: { ...base, authUrl: "https://glance\\hunter2@keystone.example.com/v3" }, key: "authUrl", message: /key authUrl holds user information/ },
  { name: "authUrl with a query", data: { ...base, authUrl: "https://keystone.example.com/v3?token=hunter2" }, key: "authUrl", message: /key authUrl has a query .*\/auth\/tokens/ },
  { name: "authUrl with an empty query", data: { ...base, authUrl: "https://keystone.example.com/v3?" }, key: "authUrl", message: /key authUrl has a query/ },
  { name: "authUrl with a fragment", data: { ...base, authUrl: "https://keystone.example.com/v3#hunter2" }, key: "authUrl", message: /key authUrl has a fragment/ },
  {
    name: "clouds.yaml auth_url with user information",
    data: { "clouds.yaml": `clouds: {a: {auth: {auth_url: "https://glance:hunter2@keystone.example.com/v3", username: u, password: p, project_name: s}}}` },
    key: "clouds.yaml",
    message: /^Secret "glance-cinder" clouds\.yaml auth\.auth_url holds user information/,
  },
  {
    name: "clouds.yaml auth_url with a query",
    data: { "clouds.yaml": `clouds: {a: {auth: {auth_url: "https://keystone.example.com/v3?x=hunter2", username: u, password: p, project_name: s}}}` },
    key: "clouds.yaml",
    message: /clouds\.yaml auth\.auth_url has a query/,
  },
  {
    name: "clouds.yaml auth_url with a fragment, for an application credential",
    data: { "clouds.yaml": `clouds: {a: {auth_type: v3applicationcredential, auth: {auth_url: "https://keystone.example.com/v3#hunter2", application_credential_id: i, application_credential_secret: s}}}` },
    key: "clouds.yaml",
    message: /clouds\.yaml auth\.auth_url has a fragment/,
  },
  { name: "an application credential's authUrl with user information", data: { authUrl: "https://ac:hunter2@keystone.example.com/v3", applicationCredentialId: "i", applicationCredentialSecret: "s" }, key: "authUrl", message: /key authUrl holds user information/ },
  { name: "password and application credential together", data: { ...base, applicationCredentialId: "i", applicationCredentialSecret: "s" }, key: ["username", "password"], message: /either a password or an application credential/ },
  { name: "an application credential without its secret", data: { authUrl: KEYSTONE, applicationCredentialId: "i" }, key: "applicationCredentialSecret" },
  { name: "clouds.yaml and direct keys together", data: { "clouds.yaml": "clouds: {a: {auth: {}}}", password: "p" }, key: "password", message: /use one or the other/ },
  { name: "clouds.yaml that is not YAML", data: { "clouds.yaml": "clouds:\n  a: {auth: {password: [hunter2" }, key: "clouds.yaml", message: /not valid YAML \(line/ },
  { name: "clouds.yaml without clouds", data: { "clouds.yaml": "other: 1" }, key: "clouds.yaml" },
  { name: "clouds.yaml with several clouds and none named", data: { "clouds.yaml": "clouds: {a: {auth: {}}, b: {auth: {}}}" }, key: "cloud", message: /several clouds \(a, b\)/ },
  { name: "clouds.yaml without the named cloud", cloud: "c", data: { "clouds.yaml": "clouds: {a: {auth: {}}}" }, key: "cloud", message: /no cloud "c"/ },
  { name: "clouds.yaml with a cacert path", data: { "clouds.yaml": `clouds: {a: {cacert: /etc/ca.pem, auth: {auth_url: "${KEYSTONE}", username: u, password: p, project_name: s}}}` }, key: "clouds.yaml", message: /caCert instead/ },
  { name: "clouds.yaml with a numeric password", data: { "clouds.yaml": `clouds: {a: {auth: {auth_url: "${KEYSTONE}", username: u, password: 0123, project_name: s}}}` }, key: "clouds.yaml", message: /auth\.password is not a string: quote it/ },
  { name: "clouds.yaml with an unsupported auth key", data: { "clouds.yaml": `clouds: {a: {auth: {auth_url: "${KEYSTONE}", username: u, password: p, project_name: s, token: t}}}` }, key: "clouds.yaml", message: /auth\.token is not supported/ },
  { name: "clouds.yaml with an unknown auth_type", data: { "clouds.yaml": `clouds: {a: {auth_type: token, auth: {auth_url: "${KEYSTONE}", username: u, password: p, project_name: s}}}` }, key: "clouds.yaml", message: /auth_type/ },
  { name: "caCert that is no PEM", data: { ...base, caCert: "not a certificate" }, key: "caCert" },
  { name: "a key spelled auth_url", data: { username: "u", password: "p", projectName: "s", auth_url: KEYSTONE }, key: "auth_url", message: /did you mean authUrl/ },
  { name: "an OS_PASSWORD key", data: { ...base, OS_PASSWORD: "p" }, key: "OS_PASSWORD", message: /did you mean password/ },
  { name: "a cloud key without clouds.yaml", data: { ...base, cloud: "prod" }, key: "cloud" },
];

for (const row of INVALID) {
  test(`refuses, naming the key: ${row.name}`, (t) => {
    const result = parseCredentialsSecret(row.data, { name: "glance-cinder", ...(row.cloud === undefined ? {} : { cloud: row.cloud }) });
    if (result.ok) {
      t.fail("accepted");
      return;
    }
    const keys = typeof row.key === "string" ? [row.key] : row.key;
    t.true(result.issues.some((issue) => keys.includes(issue.key)), JSON.stringify(result.issues));
    if (row.message) t.true(result.issues.some((issue) => row.message!.test(issue.message)), JSON.stringify(result.issues));
    for (const issue of result.issues) t.regex(issue.message, /^Secret "glance-cinder"/);
    t.false(JSON.stringify(result.issues).includes("hunter2"));
  });
}

test("no issue ever holds a password or application credential secret (property)", (t) => {
  const secret = fc.string({ minLength: 6, maxLength: 40, unit: "binary" }).filter((s) => /\S{6}/.test(s));
  fc.assert(
    fc.property(secret, fc.constantFrom("password", "applicationCredentialSecret"), fc.boolean(), fc.boolean(), (value, key, dropUsername, badUrl) => {
      const data: Record<string, string> =
        key === "password" ? { ...base, password: value } : { authUrl: KEYSTONE, applicationCredentialId: "id", applicationCredentialSecret: value };
      if (dropUsername) data["username"] = "";
      if (badUrl) data["authUrl"] = "nope";
      const result = parseCredentialsSecret(data, { name: "s" });
      return result.ok || !JSON.stringify(result.issues).includes(JSON.stringify(value).slice(1, -1));
    }),
  );
  t.pass();
});

test("a clouds.yaml YAML error reports its position, never the line it quotes", (t) => {
  const result = parseCredentialsSecret({ "clouds.yaml": "clouds:\n  a:\n    auth: {password: 'unterminated hunter2\n" }, { name: "s" });
  t.false(result.ok);
  t.notRegex(JSON.stringify(result), /hunter2/);
});

test("credentialsKey tells apart credential sets and hides their secret", (t) => {
  const a = parseCredentialsSecret(base, { name: "a" });
  const b = parseCredentialsSecret({ ...base, password: "other" }, { name: "b" });
  if (!a.ok || !b.ok) throw new Error("fixtures must parse");
  t.not(credentialsKey(a.credentials), credentialsKey(b.credentials));
  t.is(credentialsKey(a.credentials), credentialsKey(parseCredentialsSecret({ ...base }, { name: "c" }).ok ? a.credentials : b.credentials));
  t.false(credentialsKey(a.credentials).includes(base.password));
});

test("decodeSecretData decodes data, lets stringData win, and names undecodable keys", (t) => {
  const encoded = (text: string): string => Buffer.from(text, "utf8").toString("base64");
  t.deepEqual(decodeSecretData({ data: { password: encoded("pä$$"), username: encoded("old") }, stringData: { username: "new" } }, "s"), {
    ok: true,
    data: { password: "pä$$", username: "new" },
  });
  const bad = decodeSecretData({ data: { password: "not base64!", authUrl: Buffer.from([0xff, 0xfe]).toString("base64") } }, "s");
  t.false(bad.ok);
  t.deepEqual(bad.ok ? [] : bad.issues.map((i) => i.key), ["password", "authUrl"]);
  const wrapped = decodeSecretData({ data: { caCert: `${encoded(PEM).slice(0, 10)}\n${encoded(PEM).slice(10)}` } }, "s");
  t.deepEqual(wrapped, { ok: true, data: { caCert: PEM } });
});
