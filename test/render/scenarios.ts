/**
 * Renderer inputs shared by the golden tests and the real glance-api matrix.
 */
import type { ResolvedCredentials } from "../../src/api/credentials.js";
import { GlanceStoreSpecSchema, type GlanceStoreSpecInput } from "../../src/api/glancestore.js";
import type { StoreToRender } from "../../src/render/render.js";

export const KEYSTONE = "https://keystone.example.com/v3";

export function passwordCredentials(password: string, overrides: Partial<{ authUrl: string; username: string; projectName: string }> = {}): ResolvedCredentials {
  return {
    auth: {
      kind: "password",
      authUrl: overrides.authUrl ?? KEYSTONE,
      username: overrides.username ?? "glance",
      password,
      projectName: overrides.projectName ?? "service",
      userDomainName: "Default",
      projectDomainName: "Default",
    },
  };
}

/** A CA bundle as a credentials Secret's caCert holds it (content only matters for its file name). */
export const TEST_CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUgolden\n-----END CERTIFICATE-----\n";

export function store(storeId: string, spec: Partial<GlanceStoreSpecInput> = {}, credentials: ResolvedCredentials = passwordCredentials("glance-password")): StoreToRender {
  return {
    storeId,
    spec: GlanceStoreSpecSchema.parse({ credentialsSecretRef: { name: "glance-cinder" }, ...spec }),
    credentials,
    source: `GlanceStore openstack/${storeId}`,
  };
}

/** Golden scenarios: name -> stores, in the (unsorted) order a controller might hand them over. */
export const GOLDEN_SCENARIOS: Readonly<Record<string, readonly StoreToRender[]>> = {
  "one-store": [store("images", { default: true })],
  "two-stores": [
    store("slow", { volumeType: "glance-slow" }),
    store("fast", { volumeType: "glance-fast", description: "Really fast and expensive storage", default: true }),
  ],
  "ca-from-secret": [
    store("fast", { default: true, volumeType: "glance-fast" }, { ...passwordCredentials("pw"), caCertPem: TEST_CA_PEM }),
    store("slow", { volumeType: "glance-slow" }, { ...passwordCredentials("pw"), caCertPem: TEST_CA_PEM }),
  ],
  "special-values": [
    store("spaced", { volumeType: "glance fast #1", description: "  padded, with trailing space  " }),
    store(
      "plain",
      {
        default: true,
        description: 'p@$$ "w\'rd" #;\\$x ü',
        regionName: "Region One",
        endpointTemplate: "https://cinder.example.com:8776/v3/%(tenant)s",
        caCertificatesFile: "/etc/ssl/certs/cinder-ca.pem",
        useMultipath: true,
        enforceMultipath: true,
        httpRetries: 5,
        stateTransitionTimeoutSeconds: 600,
        weight: 10,
        extraOptions: { cinder_volume_format: "raw", some_new_option: "$literal dollar" },
      },
      passwordCredentials(' "quoted" $pass # ; \\$ ünï 🔑 '),
    ),
    store(
      "gold",
      { description: 'Gold $tier "premium" # not a comment ; nor this', volumeType: "gold" },
      { auth: { kind: "applicationCredential", authUrl: KEYSTONE, applicationCredentialId: "4f1e9c0a7d", applicationCredentialSecret: "app-$ecret 'x'" } },
    ),
  ],
};
