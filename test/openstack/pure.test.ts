/**
 * The pure parts of the OpenStack client, without a stack: catalog matching
 * as keystoneauth does it, catalog_info and endpoint template parsing,
 * backoff, redaction, the auth request body, volume-type resolution, image
 * volume counting and the token cache's decisions on an injected clock.
 */
import test from "ava";
import fc from "fast-check";
import { createServer } from "node:http";
import { PortAllocator } from "../../src/devstack/ports.js";
import type { OpenStackAuth } from "../../src/api/credentials.js";
import { backoffDelayMs, normalizeRetries } from "../../src/openstack/backoff.js";
import {
  acceptedServiceTypes,
  expandEndpointTemplate,
  findEndpoint,
  parseCatalogInfo,
  selectCinderEndpoint,
  serviceTypeMatches,
  type Catalog,
} from "../../src/openstack/catalog.js";
import type { CinderVolume, VolumeTypeInfo } from "../../src/openstack/cinder.js";
import { CinderApi, cinderErrorMessage, toVolumeTypeInfo } from "../../src/openstack/cinder.js";
import { AuthFailedError, OPENSTACK_ERROR_REASONS, TimeoutError, UnreachableError, type OpenStackErrorReason } from "../../src/openstack/errors.js";
import { classifyTransportError, HttpTransport, type TransportFailure } from "../../src/openstack/http.js";
import { buildAuthRequest, describeIdentity, keystoneErrorMessage, tokensUrl, type KeystoneToken } from "../../src/openstack/keystone.js";
import { redactSecrets, safeUrl, summarizeCause } from "../../src/openstack/redact.js";
import { TokenCache } from "../../src/openstack/token-cache.js";
import { findType, isAuthoritativeAllView, needsAllTypes, resolveVolumeType, type TypeView } from "../../src/openstack/volume-types.js";
import { glanceErrorMessage, glanceRootUrl, selectGlanceEndpoint, toGlanceStore } from "../../src/openstack/glance.js";
import { imageIdOfVolume, imageVolumesByType, imageVolumesOfType, isImageVolumeName } from "../../src/openstack/volumes.js";
import { findSecrets } from "./support.js";

// ---------------------------------------------------------------- catalog_info

const catalogInfoRows: { name: string; info: string; expected: unknown }[] = [
  { name: "glance_store's default", info: "volumev3::publicURL", expected: { serviceType: "volumev3", serviceName: "", interface: "public" } },
  { name: "v3 spelling of the interface", info: "volumev3::public", expected: { serviceType: "volumev3", serviceName: "", interface: "public" } },
  { name: "a service name", info: "block-storage:cinder:internalURL", expected: { serviceType: "block-storage", serviceName: "cinder", interface: "internal" } },
  { name: "admin interface", info: "volumev3::admin", expected: { serviceType: "volumev3", serviceName: "", interface: "admin" } },
  { name: "no interface means any", info: "volumev3::", expected: { serviceType: "volumev3", serviceName: "", interface: undefined } },
  { name: "two parts are refused", info: "volumev3:publicURL", expected: /exactly three parts/ },
  { name: "four parts are refused", info: "volumev3::public:x", expected: /exactly three parts/ },
  { name: "no service type is refused", info: "::publicURL", expected: /names no service type/ },
  { name: "an unknown interface is refused", info: "volumev3::privateURL", expected: /interface "privateURL"/ },
];

for (const row of catalogInfoRows) {
  test(`parseCatalogInfo: ${row.name}`, (t) => {
    const parsed = parseCatalogInfo(row.info);
    if (row.expected instanceof RegExp) {
      t.false(parsed.ok);
      if (!parsed.ok) t.regex(parsed.message, row.expected);
    } else {
      t.deepEqual(parsed, { ok: true, value: row.expected });
    }
  });
}

// ---------------------------------------------------------------- catalog matching

const endpoints = (base: string, region = "RegionOne") => [
  { id: `${base}-pub`, interface: "public", region_id: region, region, url: `${base}/public/` },
  { id: `${base}-int`, interface: "internal", region_id: region, region, url: `${base}/internal` },
  { id: `${base}-adm`, interface: "admin", region_id: region, region, url: `${base}/admin` },
];

const catalogs: Record<string, Catalog> = {
  volumev3: [
    { type: "identity", name: "keystone", id: "k", endpoints: endpoints("http://keystone") },
    { type: "volumev3", name: "cinderv3", id: "c3", endpoints: endpoints("http://cinder3") },
  ],
  blockStorageOnly: [{ type: "block-storage", name: "cinder", id: "bs", endpoints: endpoints("http://bs") }],
  both: [
    { type: "block-storage", name: "cinder", id: "bs", endpoints: endpoints("http://bs") },
    { type: "volumev3", name: "cinderv3", id: "c3", endpoints: endpoints("http://cinder3") },
  ],
  v2only: [{ type: "volumev2", name: "cinderv2", id: "c2", endpoints: endpoints("http://cinder2") }],
  twoRegions: [
    { type: "volumev3", name: "cinderv3", id: "c3", endpoints: [...endpoints("http://one", "RegionOne"), ...endpoints("http://two", "RegionTwo")] },
  ],
  legacyRegionField: [{ type: "volumev3", name: "cinderv3", id: "c3", endpoints: [{ interface: "public", region: "Old", url: "http://old" }] }],
  unnamedService: [{ type: "volumev3", id: "c3", endpoints: endpoints("http://unnamed") }],
  emptyUrl: [{ type: "volumev3", name: "cinderv3", id: "c3", endpoints: [{ interface: "public", region_id: "RegionOne", url: "" }, ...endpoints("http://second")] }],
  empty: [],
};

const matchRows: { name: string; catalog: keyof typeof catalogs; info: string; region?: string; url?: string; miss?: RegExp[] }[] = [
  { name: "the default finds the public volumev3 endpoint, trailing slash dropped", catalog: "volumev3", info: "volumev3::publicURL", url: "http://cinder3/public" },
  { name: "internalURL picks the internal endpoint", catalog: "volumev3", info: "volumev3::internalURL", url: "http://cinder3/internal" },
  { name: "volumev3 also matches block-storage", catalog: "blockStorageOnly", info: "volumev3::publicURL", url: "http://bs/public" },
  { name: "block-storage matches volumev3", catalog: "volumev3", info: "block-storage::public", url: "http://cinder3/public" },
  { name: "an exact type match wins over an alias", catalog: "both", info: "volumev3::publicURL", url: "http://cinder3/public" },
  { name: "block-storage is preferred when asked for by name", catalog: "both", info: "block-storage::publicURL", url: "http://bs/public" },
  {
    name: "volumev3 does not match volumev2 (aliases never match each other)",
    catalog: "v2only",
    info: "volumev3::publicURL",
    miss: [/service type "volumev3" \(or block-storage\)/, /has no such service; it has types volumev2/],
  },
  { name: "region filter", catalog: "twoRegions", info: "volumev3::publicURL", region: "RegionTwo", url: "http://two/public" },
  { name: "no region: the first endpoint in catalog order", catalog: "twoRegions", info: "volumev3::publicURL", url: "http://one/public" },
  {
    name: "a missing region is reported with what the catalog has",
    catalog: "twoRegions",
    info: "volumev3::publicURL",
    region: "RegionThree",
    miss: [/region "RegionThree"/, /public@RegionOne/, /public@RegionTwo/],
  },
  { name: "an old catalog's `region` field is honoured", catalog: "legacyRegionField", info: "volumev3::publicURL", region: "Old", url: "http://old" },
  { name: "a service name must match when the catalog names the service", catalog: "volumev3", info: "volumev3:cinder:publicURL", miss: [/service name "cinder"/] },
  { name: "the right service name matches", catalog: "volumev3", info: "volumev3:cinderv3:publicURL", url: "http://cinder3/public" },
  { name: "an unnamed service matches any name (keystoneauth)", catalog: "unnamedService", info: "volumev3:whatever:publicURL", url: "http://unnamed/public" },
  { name: "endpoints without a URL are skipped", catalog: "emptyUrl", info: "volumev3::publicURL", url: "http://second/public" },
  { name: "no interface: the first endpoint", catalog: "volumev3", info: "volumev3::", url: "http://cinder3/public" },
  { name: "an empty catalog says so", catalog: "empty", info: "volumev3::publicURL", miss: [/catalog is empty/] },
  { name: "a missing interface names the interfaces there are", catalog: "legacyRegionField", info: "volumev3::internalURL", miss: [/interface internal/, /public@Old/] },
];

for (const row of matchRows) {
  test(`findEndpoint: ${row.name}`, (t) => {
    const info = parseCatalogInfo(row.info);
    if (!info.ok) return t.fail(info.message);
    const found = findEndpoint(catalogs[row.catalog] ?? [], { catalogInfo: info.value, region: row.region });
    if (row.url !== undefined) {
      t.true(found.ok, found.ok ? "" : found.message);
      if (found.ok) t.is(found.endpoint.url, row.url);
    } else {
      t.false(found.ok);
      if (!found.ok) for (const pattern of row.miss ?? []) t.regex(found.message, pattern);
    }
  });
}

test("service type matching follows os-service-types: official <-> alias, never alias <-> alias", (t) => {
  t.true(serviceTypeMatches("volumev3", "block-storage"));
  t.true(serviceTypeMatches("block-storage", "volumev2"));
  t.false(serviceTypeMatches("volumev3", "volumev2"));
  t.false(serviceTypeMatches("volumev3", "volume"));
  t.true(serviceTypeMatches("compute", "compute"));
  t.deepEqual(acceptedServiceTypes("volumev3"), ["block-storage", "volumev3"]);
  t.deepEqual(acceptedServiceTypes("object-store"), ["object-store"]);
});

// ---------------------------------------------------------------- endpoint template

const templateRows: { name: string; template: string; expected: string | RegExp }[] = [
  { name: "%(project_id)s", template: "https://cinder:8776/v3/%(project_id)s", expected: "https://cinder:8776/v3/p123" },
  { name: "%(tenant)s, the old name", template: "http://cinder/v3/%(tenant)s/", expected: "http://cinder/v3/p123" },
  { name: "%% is a literal percent", template: "http://cinder/v3/%(project_id)s?x=100%%", expected: "http://cinder/v3/p123?x=100%" },
  { name: "no placeholder at all", template: "http://cinder/v3/fixed", expected: "http://cinder/v3/fixed" },
  { name: "an unknown key is refused", template: "http://cinder/v3/%(user_id)s", expected: /uses %\(user_id\)s; only %\(project_id\)s and %\(tenant\)s/ },
  { name: "a bare %s is refused", template: "http://cinder/v3/%s", expected: /"%s", which Python's %-formatting would reject/ },
  { name: "a lone % at the end is refused", template: "http://cinder/v3/%", expected: /would reject/ },
  { name: "not a URL", template: "cinder/v3/%(project_id)s", expected: /does not give a URL/ },
  { name: "not http(s)", template: "ftp://cinder/v3/%(project_id)s", expected: /ftp: URL/ },
];

for (const row of templateRows) {
  test(`expandEndpointTemplate: ${row.name}`, (t) => {
    const result = expandEndpointTemplate(row.template, { projectId: "p123" });
    if (typeof row.expected === "string") t.deepEqual(result, { ok: true, value: row.expected });
    else {
      t.false(result.ok);
      if (!result.ok) t.regex(result.message, row.expected);
    }
  });
}

test("selectCinderEndpoint: the template wins over the catalog, as in glance_store", (t) => {
  const result = selectCinderEndpoint({
    catalog: catalogs["volumev3"] ?? [],
    projectId: "p1",
    catalogInfo: "nosuch::publicURL",
    regionName: "Nowhere",
    endpointTemplate: "http://direct/v3/%(project_id)s",
  });
  t.deepEqual(result, { ok: true, value: "http://direct/v3/p1" });
  t.deepEqual(selectCinderEndpoint({ catalog: catalogs["volumev3"] ?? [], projectId: "p1" }), { ok: true, value: "http://cinder3/public" });
  t.deepEqual(selectCinderEndpoint({ catalog: catalogs["volumev3"] ?? [], projectId: "p1", endpointTemplate: "" }), { ok: true, value: "http://cinder3/public" });
});

// ---------------------------------------------------------------- backoff

const backoffRows: { name: string; retry: number; random: number; expected: number }[] = [
  { name: "first retry, lowest jitter: half the base", retry: 0, random: 0, expected: 125 },
  { name: "first retry, highest jitter: the base", retry: 0, random: 0.999999, expected: 250 },
  { name: "doubles per retry", retry: 2, random: 0, expected: 500 },
  { name: "capped", retry: 10, random: 0.999999, expected: 5000 },
  { name: "huge retry numbers do not overflow", retry: 5000, random: 0.5, expected: 3750 },
];

for (const row of backoffRows) {
  test(`backoffDelayMs: ${row.name}`, (t) => {
    t.is(backoffDelayMs(row.retry, { baseMs: 250, maxMs: 5000 }, () => row.random), row.expected);
  });
}

test("backoffDelayMs: always between half the ceiling and the ceiling, never above the cap", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 10_000 }), (retry, r, base) => {
      const max = base * 8;
      const delay = backoffDelayMs(retry, { baseMs: base, maxMs: max }, () => r);
      const ceiling = Math.min(max, base * 2 ** Math.min(retry, 30));
      return delay >= Math.floor(ceiling / 2) && delay <= Math.ceil(ceiling) && delay <= max;
    }),
  );
  t.throws(() => backoffDelayMs(-1, { baseMs: 1, maxMs: 1 }, Math.random), { instanceOf: RangeError });
});

test("normalizeRetries: glance_store's default 3 for nonsense, floors, caps", (t) => {
  t.is(normalizeRetries(undefined), 3);
  t.is(normalizeRetries(-1), 3);
  t.is(normalizeRetries(Number.NaN), 3);
  t.is(normalizeRetries(0), 0);
  t.is(normalizeRetries(2.7), 2);
  t.is(normalizeRetries(1000), 10);
});

// ---------------------------------------------------------------- redaction

test("redactSecrets: every known secret and any Keystone-looking token goes, the rest stays", (t) => {
  const fernet = "gAAAAABmZx1234567890abcdefghijklmnopqrstuvwxyz_-ABCDEFG";
  const text = `user glance password s3cr3t-pass failed; token ${fernet}; again s3cr3t-pass`;
  const result = redactSecrets(text, ["s3cr3t-pass"]);
  t.is(result, "user glance password [redacted] failed; token [redacted]; again [redacted]");
  t.is(redactSecrets("abc is short", ["abc"]), "abc is short", "secrets under 4 characters are not searched for");
  t.is(redactSecrets("a long-secret-x and long-secret", ["long-secret", "long-secret-x"]), "a [redacted] and [redacted]");
});

test("summarizeCause: walks the cause chain, keeps codes, scrubs messages, keeps no object", (t) => {
  const inner = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1 while sending pw=hunter2hunter2"), { code: "ECONNREFUSED", socket: { secret: "hunter2hunter2" } });
  const outer = new Error("fetch failed", { cause: inner });
  const summary = summarizeCause(outer, ["hunter2hunter2"]);
  t.deepEqual(summary, { name: "Error", code: "ECONNREFUSED", message: "fetch failed: connect ECONNREFUSED 127.0.0.1:1 while sending pw=[redacted]" });
  t.deepEqual(findSecrets(summary, ["hunter2hunter2"]), []);
  t.deepEqual(summarizeCause("plain string", []), { name: "Error", message: "plain string" });
});

test("safeUrl drops userinfo and the query string", (t) => {
  t.is(safeUrl("https://u:p@keystone:5000/v3/auth/tokens?nocatalog=1"), "https://keystone:5000/v3/auth/tokens");
  t.is(safeUrl("not a url?x=1"), "not a url");
});

test("OpenStack errors: stable reasons and codes, JSON without secrets, cause is a summary", (t) => {
  t.deepEqual([...OPENSTACK_ERROR_REASONS], ["AuthFailed", "KeystoneRejected", "EndpointNotFound", "Unreachable", "Timeout", "VolumeTypeNotFound", "VolumeTypeNotAccessible", "Unexpected"]);
  const error = new UnreachableError("Cinder is down", { service: "cinder", url: "http://c/v3/p/types", method: "GET", attempts: 4, cause: { name: "Error", code: "ECONNREFUSED", message: "x" } });
  t.is(error.reason, "Unreachable");
  t.is(error.code, "OS_UNREACHABLE");
  t.true(error.transient);
  t.deepEqual(JSON.parse(JSON.stringify(error)), {
    name: "UnreachableError",
    reason: "Unreachable",
    code: "OS_UNREACHABLE",
    message: "Cinder is down",
    service: "cinder",
    url: "http://c/v3/p/types",
    method: "GET",
    attempts: 4,
    cause: { name: "Error", code: "ECONNREFUSED", message: "x" },
  });
  t.false(new AuthFailedError("no").transient);
  t.is(new TimeoutError("slow").reason, "Timeout");
});

// ---------------------------------------------------------------- transport classification

const transportRows: { name: string; error: unknown; expected: TransportFailure }[] = [
  { name: "connection refused", error: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }), expected: "connection" },
  { name: "undici socket closed", error: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }), expected: "connection" },
  { name: "headers timeout", error: Object.assign(new Error("Headers Timeout Error"), { code: "UND_ERR_HEADERS_TIMEOUT" }), expected: "timeout" },
  { name: "connect timeout", error: Object.assign(new Error("Connect Timeout Error"), { code: "UND_ERR_CONNECT_TIMEOUT" }), expected: "timeout" },
  { name: "self-signed certificate", error: Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }), expected: "tls" },
  { name: "unknown issuer, wrapped", error: new Error("wrapped", { cause: Object.assign(new Error("x"), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }) }), expected: "tls" },
  { name: "hostname mismatch", error: Object.assign(new Error("altname"), { code: "ERR_TLS_CERT_ALTNAME_INVALID" }), expected: "tls" },
  { name: "anything else", error: new TypeError("bad"), expected: "other" },
];

for (const row of transportRows) {
  test(`classifyTransportError: ${row.name}`, (t) => {
    t.is(classifyTransportError(row.error), row.expected);
  });
}

// ---------------------------------------------------------------- Keystone request

const authRows: { name: string; auth: OpenStackAuth; expected: unknown }[] = [
  {
    name: "password, user and project by name, domains by name",
    auth: { kind: "password", authUrl: "http://k/v3", username: "glance", password: "pw-1234", projectName: "service", userDomainName: "Users", projectDomainName: "Projects" },
    expected: {
      auth: {
        identity: { methods: ["password"], password: { user: { name: "glance", domain: { name: "Users" }, password: "pw-1234" } } },
        scope: { project: { name: "service", domain: { name: "Projects" } } },
      },
    },
  },
  {
    name: "domains by id win over names",
    auth: { kind: "password", authUrl: "http://k/v3", username: "glance", password: "pw-1234", projectName: "service", userDomainId: "d1", userDomainName: "ignored", projectDomainId: "d2" },
    expected: {
      auth: {
        identity: { methods: ["password"], password: { user: { name: "glance", domain: { id: "d1" }, password: "pw-1234" } } },
        scope: { project: { name: "service", domain: { id: "d2" } } },
      },
    },
  },
  {
    name: "unset domains default to glance_store's Default; a project id needs no domain",
    auth: { kind: "password", authUrl: "http://k/v3", username: "glance", password: "pw-1234", projectId: "p1", projectName: "ignored" },
    expected: {
      auth: {
        identity: { methods: ["password"], password: { user: { name: "glance", domain: { name: "Default" }, password: "pw-1234" } } },
        scope: { project: { id: "p1" } },
      },
    },
  },
  {
    name: "application credential: no scope",
    auth: { kind: "applicationCredential", authUrl: "http://k/v3", applicationCredentialId: "ac1", applicationCredentialSecret: "ac-secret" },
    expected: { auth: { identity: { methods: ["application_credential"], application_credential: { id: "ac1", secret: "ac-secret" } } } },
  },
];

for (const row of authRows) {
  test(`buildAuthRequest: ${row.name}`, (t) => {
    t.deepEqual(buildAuthRequest(row.auth), row.expected);
    const secret = row.auth.kind === "password" ? row.auth.password : row.auth.applicationCredentialSecret;
    t.false(describeIdentity(row.auth).includes(secret), "the identity used in messages holds no secret");
  });
}

test("tokensUrl appends /auth/tokens to the v3 root as keystoneauth's v3 plugins do", (t) => {
  t.is(tokensUrl("https://k:5000/v3/"), "https://k:5000/v3/auth/tokens");
  t.is(tokensUrl("https://k:5000/v3"), "https://k:5000/v3/auth/tokens");
});

test("error bodies of Keystone and Cinder are read for their message only", (t) => {
  t.is(keystoneErrorMessage('{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}'), "The request you have made requires authentication.");
  t.is(keystoneErrorMessage("<html>"), undefined);
  t.is(cinderErrorMessage('{"itemNotFound":{"message":"Volume type default could not be found.","code":404}}'), "Volume type default could not be found.");
  t.is(cinderErrorMessage("oops"), undefined);
});

// ---------------------------------------------------------------- volume types

const t1: VolumeTypeInfo = { id: "11111111-1111-1111-1111-111111111111", name: "fast", isPublic: true };
const t2: VolumeTypeInfo = { id: "22222222-2222-2222-2222-222222222222", name: "slow", isPublic: true };
const priv: VolumeTypeInfo = { id: "33333333-3333-3333-3333-333333333333", name: "secret-tier", isPublic: false };
const granted: VolumeTypeInfo = { id: "44444444-4444-4444-4444-444444444444", name: "granted", isPublic: false };
const baseView: TypeView = { endpoint: "http://c/v3/p", projectId: "p", projectName: "service", accessible: [t1, t2, granted], allIsAuthoritative: false };

const typeRows: { name: string; wanted: string | undefined; view: Partial<TypeView>; expected: { ok: true; id: string; resolvedDefault: boolean } | { reason: OpenStackErrorReason; message: RegExp } }[] = [
  { name: "by name", wanted: "fast", view: {}, expected: { ok: true, id: t1.id, resolvedDefault: false } },
  { name: "by id", wanted: t2.id, view: {}, expected: { ok: true, id: t2.id, resolvedDefault: false } },
  { name: "a private type the project was granted", wanted: "granted", view: {}, expected: { ok: true, id: granted.id, resolvedDefault: false } },
  { name: "Cinder's default when none is named", wanted: undefined, view: { defaultType: t2 }, expected: { ok: true, id: t2.id, resolvedDefault: true } },
  {
    name: "no default type in Cinder",
    wanted: undefined,
    view: { defaultType: null },
    expected: { reason: "VolumeTypeNotFound", message: /names no volume type and Cinder .* has no default type for project "service"/ },
  },
  {
    name: "missing for an admin: does not exist, with the types there are",
    wanted: "nope",
    view: { all: [t1, t2, priv, granted], allIsAuthoritative: true },
    expected: { reason: "VolumeTypeNotFound", message: /volume type "nope" does not exist .*types there: fast, granted, secret-tier, slow/ },
  },
  {
    name: "private and not granted, seen by an admin",
    wanted: "secret-tier",
    view: { all: [t1, t2, priv, granted], allIsAuthoritative: true },
    expected: { reason: "VolumeTypeNotAccessible", message: /exists .* but is private and project "service" \(p\) was not granted access.*openstack volume type set --project p secret-tier/ },
  },
  {
    name: "private default type not granted",
    wanted: undefined,
    view: { defaultType: priv, all: [t1, priv], allIsAuthoritative: true },
    expected: { reason: "VolumeTypeNotAccessible", message: /Cinder's default type "secret-tier"/ },
  },
  {
    name: "missing for a non-admin: cannot tell, and says so",
    wanted: "secret-tier",
    view: { all: [t1, t2, granted], allIsAuthoritative: false },
    expected: { reason: "VolumeTypeNotFound", message: /Either it does not exist, or it is private .* cannot be told apart/ },
  },
];

for (const row of typeRows) {
  test(`resolveVolumeType: ${row.name}`, (t) => {
    const result = resolveVolumeType(row.wanted, { ...baseView, ...row.view });
    if ("ok" in row.expected) {
      t.true(result.ok);
      if (result.ok) {
        t.is(result.volumeType.id, row.expected.id);
        t.is(result.resolvedDefault, row.expected.resolvedDefault);
      }
    } else {
      t.false(result.ok);
      if (!result.ok) {
        t.is(result.error.reason, row.expected.reason);
        t.regex(result.error.message, row.expected.message);
      }
    }
  });
}

test("the admin view is asked for only when some wanted type is not accessible", (t) => {
  t.false(needsAllTypes(["fast", t2.id], baseView.accessible, undefined));
  t.true(needsAllTypes(["fast", "nope"], baseView.accessible, undefined));
  t.false(needsAllTypes([undefined], baseView.accessible, t1));
  t.true(needsAllTypes([undefined], baseView.accessible, priv));
  t.false(needsAllTypes([undefined], baseView.accessible, null));
});

test("an is_public=None answer is authoritative for the admin role or when it shows more", (t) => {
  t.true(isAuthoritativeAllView(["admin", "member"], [t1], [t1]));
  t.false(isAuthoritativeAllView(["member", "reader"], [t1], [t1]));
  t.true(isAuthoritativeAllView(["member"], [t1], [t1, priv]));
});

test("findType prefers an id over a name, like Cinder's get_by_name_or_id", (t) => {
  const confusing: VolumeTypeInfo = { id: "x", name: t1.id, isPublic: true };
  t.is(findType([confusing, t1], t1.id), t1);
  t.deepEqual(toVolumeTypeInfo({ id: "a", name: "b", "os-volume-type-access:is_public": false }), { id: "a", name: "b", isPublic: false });
});

// ---------------------------------------------------------------- image volumes

test("image volumes: image-<uuid> names of the store's type only", (t) => {
  const volumes: CinderVolume[] = [
    { id: "v1", name: "image-0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e11", status: "available", volume_type: "fast" },
    { id: "v2", name: "image-0B6E4A57-4AB3-4E43-9D3C-3B8F0A2F8E12", status: "in-use", volume_type: "fast" },
    { id: "v3", name: "image-0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e13", status: "available", volume_type: "slow" },
    { id: "v4", name: "data-disk", status: "available", volume_type: "fast" },
    { id: "v5", name: "image-not-a-uuid", status: "available", volume_type: "fast" },
    { id: "v6", name: null, status: "available", volume_type: "fast" },
    { id: "v7", name: "image-0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e14", status: "available", volume_type: "renamed", volume_type_id: "fast-id" },
  ];
  const fast = imageVolumesOfType(volumes, { name: "fast", id: "fast-id" });
  t.deepEqual(
    fast.map((v) => [v.id, v.imageId]),
    [
      ["v1", "0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e11"],
      ["v2", "0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e12"],
      ["v7", "0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e14"],
    ],
  );
  t.is(imageVolumesOfType(volumes, { name: "slow" }).length, 1);
  t.true(isImageVolumeName("image-0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e11"));
  t.false(isImageVolumeName("image-0b6e4a57-4ab3-4e43-9d3c-3b8f0a2f8e11-copy"));
  t.is(imageIdOfVolume("data"), undefined);
});

test("image volumes by type: image-<uuid> names of any status, per type name, sorted, no type last", (t) => {
  const image = (n: number) => `image-0b6e4a57-4ab3-4e43-9d3c-${String(n).padStart(12, "0")}`;
  const volumes: CinderVolume[] = [
    { id: "v1", name: image(1), status: "creating", volume_type: "slow" },
    { id: "v2", name: image(2), status: "available", volume_type: "Fast" },
    { id: "v3", name: image(3), status: "error", volume_type: "fast", volume_type_id: "fast-id" },
    { id: "v4", name: image(4), status: "in-use", volume_type: "fast", volume_type_id: "fast-id" },
    { id: "v5", name: image(5), status: "available", volume_type: null },
    { id: "v6", name: image(6), status: "available" },
    { id: "v7", name: "data-disk", status: "available", volume_type: "fast" },
    { id: "v8", name: null, status: "available", volume_type: "other" },
    { id: "v9", name: image(9), status: "available", volume_type: "slow", volume_type_id: "slow-id" },
  ];
  t.deepEqual(imageVolumesByType(volumes), [
    { volumeType: "Fast", count: 1 },
    { volumeType: "fast", volumeTypeId: "fast-id", count: 2 },
    // One slow volume carries the id and one does not: no id is claimed.
    { volumeType: "slow", count: 2 },
    { volumeType: undefined, count: 2 },
  ]);
  t.deepEqual(imageVolumesByType([]), []);
});

// ---------------------------------------------------------------- Glance

const glanceUrlRows: { url: string; expected: string | RegExp }[] = [
  { url: "http://glance:9292", expected: "http://glance:9292" },
  { url: "http://glance:9292/", expected: "http://glance:9292" },
  { url: "https://cloud.example.com/image", expected: "https://cloud.example.com/image" },
  { url: "https://cloud.example.com/image/", expected: "https://cloud.example.com/image" },
  { url: "https://cloud.example.com/image/v2/", expected: "https://cloud.example.com/image" },
  { url: "http://glance:9292/v2", expected: "http://glance:9292" },
  { url: "http://glance:9292/v2x", expected: "http://glance:9292/v2x" },
  { url: "glance:9292", expected: /glance: URL; Glance needs http or https/ },
  { url: "not a url", expected: /is not a URL/ },
  { url: "http://glance:9292/?x=1", expected: /carries a query/ },
  { url: "http://user:secret-pw@glance:9292/", expected: /carries a query, fragment or user info/ },
];

for (const row of glanceUrlRows) {
  test(`glanceRootUrl: ${row.url}`, (t) => {
    const root = glanceRootUrl(row.url);
    if (typeof row.expected === "string") {
      t.deepEqual(root, { ok: true, value: row.expected });
    } else {
      t.false(root.ok);
      if (!root.ok) {
        t.regex(root.message, row.expected);
        t.false(root.message.includes("secret-pw"));
      }
    }
  });
}

test("selectGlanceEndpoint: the image service by interface (default public) and region; a miss says what there is", (t) => {
  const catalog: Catalog = [
    ...(catalogs["volumev3"] ?? []),
    {
      type: "image",
      name: "glance",
      id: "g",
      endpoints: [
        { interface: "public", region_id: "RegionOne", url: "http://glance-one:9292/" },
        { interface: "internal", region_id: "RegionOne", url: "http://internal/image/" },
        { interface: "public", region_id: "RegionTwo", url: "http://glance-two/image" },
      ],
    },
  ];
  t.deepEqual(selectGlanceEndpoint({ catalog }), { ok: true, value: "http://glance-one:9292" });
  t.deepEqual(selectGlanceEndpoint({ catalog, interface: "internal" }), { ok: true, value: "http://internal/image" });
  t.deepEqual(selectGlanceEndpoint({ catalog, regionName: "RegionTwo" }), { ok: true, value: "http://glance-two/image" });
  const noAdmin = selectGlanceEndpoint({ catalog, interface: "admin" });
  t.false(noAdmin.ok);
  if (!noAdmin.ok) {
    t.regex(noAdmin.message, /^no Glance endpoint in the Keystone catalog matches service type "image", service name any, interface admin, region any: the catalog offers image "glance" \[public@RegionOne, internal@RegionOne, public@RegionTwo\]/);
    t.regex(noAdmin.message, /give Glance's URL$/);
  }
  const none = selectGlanceEndpoint({ catalog: catalogs["volumev3"] ?? [] });
  t.false(none.ok);
  if (!none.ok) t.regex(none.message, /has no such service; it has types identity, volumev3/);
});

test("Glance's store lists: default \"true\" is a boolean, a cinder store's volume_type is kept, other types have none", (t) => {
  t.deepEqual(toGlanceStore({ id: "fast", default: "true", description: "Fast", type: "cinder", properties: { volume_type: "ssd", use_multipath: false } }), {
    id: "fast",
    default: true,
    type: "cinder",
    volumeType: "ssd",
    description: "Fast",
  });
  t.deepEqual(toGlanceStore({ id: "slow" }), { id: "slow", default: false });
  t.deepEqual(toGlanceStore({ id: "cinder-default-type", type: "cinder", properties: { volume_type: null } }), { id: "cinder-default-type", default: false, type: "cinder" });
  t.deepEqual(toGlanceStore({ id: "local", type: "file", properties: { data_dir: "/var/lib/glance", volume_type: "not-a-cinder-store" } }), { id: "local", default: false, type: "file" });
  t.is(glanceErrorMessage('{"message": "Multi backend is not supported at this site.", "code": "404 Not Found"}'), "Multi backend is not supported at this site.");
  t.is(glanceErrorMessage("<html><body><h1>403 Forbidden</h1>Access was denied to this resource.</body></html>"), "403 Forbidden Access was denied to this resource.");
});

// ---------------------------------------------------------------- token cache

function fakeToken(value: string, expiresAtMs: number, lifetimeMs: number): KeystoneToken {
  return { value, userId: "u", userName: "glance", projectId: "p", projectName: "service", roles: [], catalog: [], expiresAt: "", lifetimeMs, expiresAtMs };
}

test("token cache: reuse until the margin, then a new token; the margin never eats more than half the life", async (t) => {
  let now = 0;
  let issued = 0;
  const cache = new TokenCache({ now: () => now, marginMs: 60_000 });
  const issue = async (): Promise<KeystoneToken> => fakeToken(`tok-${++issued}`, now + 3_600_000, 3_600_000);
  t.is((await cache.get("k", issue)).source, "issued");
  now = 3_600_000 - 60_001;
  t.is((await cache.get("k", issue)).token.value, "tok-1");
  now = 3_600_000 - 60_000;
  const renewed = await cache.get("k", issue);
  t.is(renewed.source, "issued");
  t.is(renewed.token.value, "tok-2");

  const short = new TokenCache({ now: () => now, marginMs: 60_000 });
  now = 0;
  const shortIssue = async (): Promise<KeystoneToken> => fakeToken(`short-${++issued}`, now + 10_000, 10_000);
  const first = await short.get("k", shortIssue);
  now = 4_999;
  t.is((await short.get("k", shortIssue)).token, first.token, "a 10 s token is used for its first 5 s despite a 60 s margin");
  now = 5_000;
  t.not((await short.get("k", shortIssue)).token, first.token);
});

test("token cache: concurrent callers share one authentication; a failure is not cached", async (t) => {
  const cache = new TokenCache({ now: () => 0, marginMs: 1000 });
  let calls = 0;
  let release: (token: KeystoneToken) => void = () => {};
  const issue = (): Promise<KeystoneToken> => {
    calls++;
    return new Promise((resolve) => (release = resolve));
  };
  const waiting = Array.from({ length: 10 }, () => cache.get("k", issue));
  release(fakeToken("shared", 100_000, 100_000));
  const results = await Promise.all(waiting);
  t.is(calls, 1);
  t.deepEqual([...new Set(results.map((r) => r.token.value))], ["shared"]);
  t.deepEqual(results.map((r) => r.source).sort(), ["issued", ...Array<string>(9).fill("shared")]);

  const failing = new TokenCache({ now: () => 0, marginMs: 1000 });
  let attempts = 0;
  const broken = async (): Promise<KeystoneToken> => {
    attempts++;
    throw new Error("keystone down");
  };
  await t.throwsAsync(Promise.all([failing.get("k", broken), failing.get("k", broken)]), { message: "keystone down" });
  await t.throwsAsync(failing.get("k", broken));
  t.is(attempts, 2, "one shared attempt, then a fresh one");
});

test("token cache: invalidate drops only the token that was refused", async (t) => {
  const cache = new TokenCache({ now: () => 0, marginMs: 0 });
  let n = 0;
  const issue = async (): Promise<KeystoneToken> => fakeToken(`t${++n}`, 1_000_000, 1_000_000);
  const first = (await cache.get("k", issue)).token;
  cache.invalidate("k", first);
  const second = (await cache.get("k", issue)).token;
  t.is(second.value, "t2");
  cache.invalidate("k", first);
  t.is((await cache.get("k", issue)).token, second, "a late invalidation of an old token keeps the new one");
  t.deepEqual(cache.values(), ["t2"]);
});

// ---------------------------------------------------------------- the HTTP edge's retry rules
// Keystone and Cinder cannot be made to answer 5xx on demand: a loopback HTTP
// server that answers a scripted list of statuses stands in for "any server".

async function scriptedServer(statuses: number[]): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  const ports = new PortAllocator();
  const port = await ports.allocate();
  let hits = 0;
  const server = createServer((request, response) => {
    const status = statuses[Math.min(hits, statuses.length - 1)] ?? 200;
    hits++;
    request.resume();
    response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ status }));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}/v3/p/types`,
    hits: () => hits,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      ports.releaseAll();
    },
  };
}

test("CinderApi.defaultType: a 404 saying there is no default type is none; any other 404 is the endpoint's", async (t) => {
  const ports = new PortAllocator();
  const port = await ports.allocate();
  const bodies: Record<string, string> = {
    "/v3/none/types/default": JSON.stringify({ itemNotFound: { code: 404, message: "Default volume type can not be found." } }),
    "/nope/p/types/default": JSON.stringify({ itemNotFound: { code: 404, message: "The resource could not be found." } }),
  };
  const server = createServer((request, response) => {
    request.resume();
    response.writeHead(404, { "content-type": "application/json" }).end(bodies[request.url ?? ""] ?? "");
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const transport = new HttpTransport();
  const token = fakeToken("gAAAAAfake-token-value-for-the-test-only", Date.now() + 3_600_000, 3_600_000);
  const cinder = (path: string) =>
    new CinderApi({ transport, endpoint: `http://127.0.0.1:${port}${path}`, tls: { insecure: false }, retries: 0, tokens: { get: async () => token, invalidate: () => {}, secrets: () => [token.value] } });
  try {
    t.is(await cinder("/v3/none").defaultType(), undefined);
    const wrong = await t.throwsAsync(cinder("/nope/p").defaultType());
    t.is((wrong as { reason?: string }).reason, "EndpointNotFound");
    t.regex(wrong.message, /answered 404 to GET \/nope\/p\/types\/default\. Cinder says: "The resource could not be found\."/);
  } finally {
    await transport.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    ports.releaseAll();
  }
});

const retryRows: { name: string; statuses: number[]; retries: number; status: number; hits: number }[] = [
  { name: "503 then 200: retried, answered", statuses: [503, 200], retries: 3, status: 200, hits: 2 },
  { name: "500 four times with 3 retries: the last 500 is returned", statuses: [500, 500, 500, 500, 200], retries: 3, status: 500, hits: 4 },
  { name: "502, 504, then 200", statuses: [502, 504, 200], retries: 3, status: 200, hits: 3 },
  { name: "retries 0: one attempt only", statuses: [503, 200], retries: 0, status: 503, hits: 1 },
  { name: "404 is never retried", statuses: [404, 200], retries: 3, status: 404, hits: 1 },
  { name: "401 is not retried here (the Cinder layer re-authenticates once)", statuses: [401, 200], retries: 3, status: 401, hits: 1 },
  { name: "501 is not a transient failure", statuses: [501, 200], retries: 3, status: 501, hits: 1 },
];

for (const row of retryRows) {
  test(`HttpTransport: ${row.name}`, async (t) => {
    const server = await scriptedServer(row.statuses);
    const slept: number[] = [];
    const transport = new HttpTransport({ random: () => 0, backoff: { baseMs: 100, maxMs: 1000 }, sleep: async (ms) => void slept.push(ms) });
    try {
      const response = await transport.send({ service: "cinder", method: "GET", url: server.url, tls: { insecure: false }, retries: row.retries, secrets: [] });
      t.is(response.status, row.status);
      t.is(server.hits(), row.hits);
      t.is(response.attempts, row.hits);
      t.deepEqual(slept, [50, 100, 200].slice(0, row.hits - 1), "jittered exponential pauses between attempts");
    } finally {
      await transport.close();
      await server.close();
    }
  });
}

test("HttpTransport: a body over the size limit and a cancelled call are errors of the taxonomy", async (t) => {
  const server = await scriptedServer([200]);
  const transport = new HttpTransport({ maxResponseBytes: 4 });
  try {
    const tooBig = await t.throwsAsync(transport.send({ service: "cinder", method: "GET", url: server.url, tls: { insecure: false }, retries: 0, secrets: [] }));
    t.is((tooBig as { reason?: string }).reason, "Unexpected");
    t.regex(tooBig.message, /larger than 4 bytes/);
    const controller = new AbortController();
    controller.abort(new Error("shutting down"));
    const cancelled = await t.throwsAsync(transport.send({ service: "keystone", method: "GET", url: server.url, tls: { insecure: false }, retries: 3, secrets: [], signal: controller.signal }));
    t.regex(cancelled.message, /was cancelled before Keystone answered/);
  } finally {
    await transport.close();
    await server.close();
  }
  await t.throwsAsync(transport.send({ service: "cinder", method: "GET", url: server.url, tls: { insecure: false }, retries: 0, secrets: [] }), { message: /was closed/ });
});
