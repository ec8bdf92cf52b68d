import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { V1SubjectAccessReview, V1TokenReview } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { systemClock, type Clock } from "./clock.js";
import type { KubeClient } from "../kube/client.js";

/** What the metrics server does with a request before serving it. */
export type AccessDecision =
  | { readonly allowed: true; readonly user: string }
  | { readonly allowed: false; readonly status: 401 | 403 | 500; readonly reason: string };

export type RequestAuthorizer = (request: IncomingMessage) => Promise<AccessDecision>;

/** The two reviews, behind an interface so the cache can be tested without an apiserver. */
export interface ReviewApi {
  /** undefined: the token is not valid (expired, unknown, wrong audience). */
  reviewToken(token: string, signal: AbortSignal): Promise<ReviewedUser | undefined>;
  mayGet(user: ReviewedUser, path: string, signal: AbortSignal): Promise<boolean>;
}

export interface ReviewedUser {
  readonly username: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** controller-runtime's delegating authenticator and authorizer keep answers this long. */
export const METRICS_AUTH_CACHE = {
  authenticatedMs: 60_000,
  unauthenticatedMs: 10_000,
  allowedMs: 300_000,
  deniedMs: 30_000,
  maxEntries: 1_000,
  requestTimeoutMs: 10_000,
} as const;

/**
 * Authentication and authorization of scrapes the way kubebuilder projects
 * do it (controller-runtime's filters.WithAuthenticationAndAuthorization):
 * the request's bearer token goes to the apiserver in a TokenReview; the
 * user it names must be allowed `get` on the non-resource URL of the
 * request path (e.g. /metrics) by a SubjectAccessReview. 401 without a
 * valid token, 403 when RBAC says no, 500 when the apiserver could not be
 * asked. Answers are cached (tokens by their SHA-256, never the token
 * itself), so a scrape every 30 s costs the apiserver about one review per
 * minute. Needs `create` on tokenreviews and subjectaccessreviews.
 */
export function kubernetesAuthorizer(options: { reviews: ReviewApi; logger: Logger; clock?: Pick<Clock, "now"> }): RequestAuthorizer {
  const clock = options.clock ?? systemClock;
  const tokens = new TtlCache<ReviewedUser | null>();
  const decisions = new TtlCache<boolean>();
  const log = options.logger.child({ component: "metrics-auth" });
  return async (request) => {
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) return { allowed: false, status: 401, reason: "Unauthorized: a bearer token is required" };
    const token = match[1] as string;
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const tokenKey = createHash("sha256").update(token).digest("hex");
    let user: ReviewedUser | null | undefined = tokens.get(tokenKey, clock.now());
    if (user === undefined) {
      try {
        user = (await options.reviews.reviewToken(token, AbortSignal.timeout(METRICS_AUTH_CACHE.requestTimeoutMs))) ?? null;
      } catch (error) {
        log.warn({ err: error }, "could not review a scrape's token with the apiserver");
        return { allowed: false, status: 401, reason: "Unauthorized: the token could not be reviewed" };
      }
      tokens.set(tokenKey, user, clock.now() + (user === null ? METRICS_AUTH_CACHE.unauthenticatedMs : METRICS_AUTH_CACHE.authenticatedMs));
    }
    if (user === null) return { allowed: false, status: 401, reason: "Unauthorized" };
    const decisionKey = JSON.stringify([user.username, user.uid, [...(user.groups ?? [])].sort(), user.extra ?? {}, path]);
    let allowed = decisions.get(decisionKey, clock.now());
    if (allowed === undefined) {
      try {
        allowed = await options.reviews.mayGet(user, path, AbortSignal.timeout(METRICS_AUTH_CACHE.requestTimeoutMs));
      } catch (error) {
        log.warn({ err: error, user: user.username }, "could not ask the apiserver whether a scraper may read metrics");
        return { allowed: false, status: 500, reason: "Internal Server Error: authorization could not be checked" };
      }
      decisions.set(decisionKey, allowed, clock.now() + (allowed ? METRICS_AUTH_CACHE.allowedMs : METRICS_AUTH_CACHE.deniedMs));
    }
    if (!allowed) {
      log.info({ user: user.username, path }, "scrape refused: the user may not get this path");
      return { allowed: false, status: 403, reason: `Forbidden: user "${user.username}" may not get path "${path}"` };
    }
    return { allowed: true, user: user.username };
  };
}

/** The reviews, asked of the apiserver as the operator's ServiceAccount. */
export function kubeReviewApi(kube: KubeClient): ReviewApi {
  return {
    async reviewToken(token, signal) {
      const review = await kube.request<V1TokenReview>({
        method: "POST",
        path: "/apis/authentication.k8s.io/v1/tokenreviews",
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
        signal,
      });
      const status = review.status;
      if (status?.authenticated !== true || status.user?.username === undefined) return undefined;
      const { username, uid, groups, extra } = status.user;
      return { username, ...(uid === undefined ? {} : { uid }), ...(groups === undefined ? {} : { groups }), ...(extra === undefined ? {} : { extra }) };
    },
    async mayGet(user, path, signal) {
      const review = await kube.request<V1SubjectAccessReview>({
        method: "POST",
        path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: user.username,
            ...(user.uid === undefined ? {} : { uid: user.uid }),
            ...(user.groups === undefined ? {} : { groups: [...user.groups] }),
            ...(user.extra === undefined ? {} : { extra: Object.fromEntries(Object.entries(user.extra).map(([k, v]) => [k, [...v]])) }),
            nonResourceAttributes: { path, verb: "get" },
          },
        },
        signal,
      });
      return review.status?.allowed === true;
    },
  };
}

/** A small map whose entries expire; the oldest entry goes when it is full. */
class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();

  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    this.#entries.delete(key);
    if (this.#entries.size >= METRICS_AUTH_CACHE.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, expiresAt });
  }
}
