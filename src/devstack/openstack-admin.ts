/**
 * The test side's hands on Keystone and Cinder: what an OpenStack admin
 * would do with the `openstack` CLI, over plain HTTP so that a call costs
 * milliseconds rather than the CLI's seconds of Python start-up. Deliberately
 * independent of src/openstack, which it is used to test.
 */

export interface PasswordCredentials {
  readonly authUrl: string;
  readonly username: string;
  readonly password: string;
  readonly projectName: string;
  readonly userDomainName: string;
  readonly projectDomainName: string;
}

export interface IssuedToken {
  readonly token: string;
  readonly projectId: string;
  readonly userId: string;
  readonly expiresAt: string;
  readonly catalog: readonly CatalogEntry[];
}

export interface CatalogEntry {
  readonly type: string;
  readonly name: string;
  readonly id: string;
  readonly endpoints: readonly { readonly interface: string; readonly region: string; readonly url: string; readonly id: string }[];
}

export interface VolumeType {
  readonly id: string;
  readonly name: string;
  readonly is_public: boolean;
  readonly description: string | null;
}

export interface Volume {
  readonly id: string;
  readonly name: string | null;
  readonly status: string;
  readonly volume_type: string | null;
}

export class OpenStackHttpError extends Error {
  override readonly name = "OpenStackHttpError";
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${url} answered ${status}: ${body.slice(0, 500)}`);
  }
}

export async function issueToken(credentials: PasswordCredentials): Promise<IssuedToken> {
  const url = `${credentials.authUrl.replace(/\/+$/, "")}/auth/tokens`;
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: credentials.username, domain: { name: credentials.userDomainName }, password: credentials.password } },
        },
        scope: { project: { name: credentials.projectName, domain: { name: credentials.projectDomainName } } },
      },
    }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (response.status !== 201) throw new OpenStackHttpError("POST", url, response.status, text);
  const body = JSON.parse(text) as {
    token: { expires_at: string; project: { id: string }; user: { id: string }; catalog?: CatalogEntry[] };
  };
  return {
    token: response.headers.get("x-subject-token") ?? "",
    projectId: body.token.project.id,
    userId: body.token.user.id,
    expiresAt: body.token.expires_at,
    catalog: body.token.catalog ?? [],
  };
}

/**
 * Admin operations on one local Keystone and Cinder. `credentials` must hold
 * the admin role (the stack's bootstrap admin does).
 */
export class OpenStackAdmin {
  readonly #credentials: PasswordCredentials;
  readonly #keystoneUrl: string;
  readonly #cinderUrl: string;
  /** Tokens by credential set: the admin's own, and those of users volumes are made for. */
  readonly #tokens = new Map<string, IssuedToken>();

  constructor(options: { credentials: PasswordCredentials; keystoneUrl: string; cinderUrl: string }) {
    this.#credentials = options.credentials;
    this.#keystoneUrl = options.keystoneUrl.replace(/\/+$/, "");
    this.#cinderUrl = options.cinderUrl.replace(/\/+$/, "");
  }

  async token(): Promise<IssuedToken> {
    return this.#tokenFor(this.#credentials);
  }

  // Keystone

  async findProjectId(name: string, domainId = "default"): Promise<string | undefined> {
    const body = await this.#call<{ projects: { id: string }[] }>("GET", `${this.#keystoneUrl}/projects?name=${encodeURIComponent(name)}&domain_id=${domainId}`);
    return body.projects[0]?.id;
  }

  async createProject(name: string, domainId = "default"): Promise<string> {
    const body = await this.#call<{ project: { id: string } }>("POST", `${this.#keystoneUrl}/projects`, {
      project: { name, domain_id: domainId, enabled: true },
    });
    return body.project.id;
  }

  async deleteProject(id: string): Promise<void> {
    await this.#call("DELETE", `${this.#keystoneUrl}/projects/${id}`);
  }

  async createDomain(name: string): Promise<string> {
    const body = await this.#call<{ domain: { id: string } }>("POST", `${this.#keystoneUrl}/domains`, { domain: { name, enabled: true } });
    return body.domain.id;
  }

  async createUser(options: { name: string; password: string; domainId?: string; defaultProjectId?: string }): Promise<string> {
    const body = await this.#call<{ user: { id: string } }>("POST", `${this.#keystoneUrl}/users`, {
      user: {
        name: options.name,
        password: options.password,
        domain_id: options.domainId ?? "default",
        enabled: true,
        ...(options.defaultProjectId ? { default_project_id: options.defaultProjectId } : {}),
      },
    });
    return body.user.id;
  }

  async deleteUser(id: string): Promise<void> {
    await this.#call("DELETE", `${this.#keystoneUrl}/users/${id}`);
  }

  async setUserPassword(userId: string, password: string): Promise<void> {
    await this.#call("PATCH", `${this.#keystoneUrl}/users/${userId}`, { user: { password } });
  }

  async roleId(name: string): Promise<string> {
    const body = await this.#call<{ roles: { id: string }[] }>("GET", `${this.#keystoneUrl}/roles?name=${encodeURIComponent(name)}`);
    const id = body.roles[0]?.id;
    if (id === undefined) throw new Error(`Keystone has no role named ${name}`);
    return id;
  }

  async grantProjectRole(projectId: string, userId: string, roleName: string): Promise<void> {
    const roleId = await this.roleId(roleName);
    await this.#call("PUT", `${this.#keystoneUrl}/projects/${projectId}/users/${userId}/roles/${roleId}`);
  }

  async createApplicationCredential(userId: string, userToken: string, name: string): Promise<{ id: string; secret: string }> {
    const url = `${this.#keystoneUrl}/users/${userId}/application_credentials`;
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-auth-token": userToken },
      body: JSON.stringify({ application_credential: { name } }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) throw new OpenStackHttpError("POST", url, response.status, text);
    const body = JSON.parse(text) as { application_credential: { id: string; secret: string } };
    return body.application_credential;
  }

  async createService(type: string, name: string): Promise<string> {
    const body = await this.#call<{ service: { id: string } }>("POST", `${this.#keystoneUrl}/services`, { service: { type, name, enabled: true } });
    return body.service.id;
  }

  async createEndpoint(options: { serviceId: string; interface: "public" | "internal" | "admin"; url: string; regionId?: string }): Promise<string> {
    const body = await this.#call<{ endpoint: { id: string } }>("POST", `${this.#keystoneUrl}/endpoints`, {
      endpoint: { service_id: options.serviceId, interface: options.interface, url: options.url, region_id: options.regionId ?? "RegionOne", enabled: true },
    });
    return body.endpoint.id;
  }

  async deleteEndpoint(id: string): Promise<void> {
    await this.#call("DELETE", `${this.#keystoneUrl}/endpoints/${id}`);
  }

  async createRegion(id: string): Promise<void> {
    await this.#call("POST", `${this.#keystoneUrl}/regions`, { region: { id } });
  }

  // Cinder (volume API v3, scoped to the admin's project unless a project is given)

  async #cinderProjectUrl(projectId?: string): Promise<string> {
    return `${this.#cinderUrl}/v3/${projectId ?? (await this.token()).projectId}`;
  }

  async listVolumeTypes(options: { includePrivate?: boolean } = {}): Promise<VolumeType[]> {
    const query = options.includePrivate ? "?is_public=None" : "";
    const body = await this.#call<{ volume_types: VolumeType[] }>("GET", `${await this.#cinderProjectUrl()}/types${query}`);
    return body.volume_types;
  }

  async createVolumeType(name: string, options: { isPublic?: boolean; description?: string } = {}): Promise<VolumeType> {
    const body = await this.#call<{ volume_type: VolumeType }>("POST", `${await this.#cinderProjectUrl()}/types`, {
      volume_type: {
        name,
        "os-volume-type-access:is_public": options.isPublic ?? true,
        ...(options.description === undefined ? {} : { description: options.description }),
      },
    });
    return body.volume_type;
  }

  async deleteVolumeType(id: string): Promise<void> {
    await this.#call("DELETE", `${await this.#cinderProjectUrl()}/types/${id}`);
  }

  async addVolumeTypeAccess(typeId: string, projectId: string): Promise<void> {
    await this.#call("POST", `${await this.#cinderProjectUrl()}/types/${typeId}/action`, { addProjectAccess: { project: projectId } });
  }

  async removeVolumeTypeAccess(typeId: string, projectId: string): Promise<void> {
    await this.#call("POST", `${await this.#cinderProjectUrl()}/types/${typeId}/action`, { removeProjectAccess: { project: projectId } });
  }

  /**
   * Sets a project's own default volume type (Cinder API 3.62,
   * `PUT /v3/default-types/{project_id}`): what `GET /types/default` answers
   * for that project from then on.
   */
  async setProjectDefaultVolumeType(projectId: string, volumeType: string): Promise<void> {
    await this.#call("PUT", `${this.#cinderUrl}/v3/default-types/${projectId}`, { default_type: { volume_type: volumeType } }, undefined, { "openstack-api-version": "volume 3.62" });
  }

  /** Removes a project's own default volume type (`DELETE /v3/default-types/{project_id}`): Cinder's default applies again. */
  async unsetProjectDefaultVolumeType(projectId: string): Promise<void> {
    await this.#call("DELETE", `${this.#cinderUrl}/v3/default-types/${projectId}`, undefined, undefined, { "openstack-api-version": "volume 3.62" });
  }

  /** The type new volumes get in the project `owner` is scoped to (the admin's own by default). */
  async defaultVolumeType(owner?: PasswordCredentials): Promise<VolumeType> {
    const scoped = owner === undefined ? undefined : await this.#tokenFor(owner);
    const url = scoped === undefined ? `${await this.#cinderProjectUrl()}/types/default` : `${this.#cinderUrl}/v3/${scoped.projectId}/types/default`;
    const body = await this.#call<{ volume_type: VolumeType }>("GET", url, undefined, scoped?.token);
    return body.volume_type;
  }

  /**
   * Creates a volume record in the project `owner` is scoped to (the admin's
   * own by default). With only cinder-api running (no scheduler or volume
   * service) it stays in status `creating`, which is enough to be listed with
   * its type.
   */
  async createVolume(options: { name: string; volumeType?: string; sizeGb?: number; owner?: PasswordCredentials; metadata?: Readonly<Record<string, string>> }): Promise<Volume> {
    const scoped = await this.#tokenFor(options.owner ?? this.#credentials);
    const body = await this.#call<{ volume: Volume }>(
      "POST",
      `${this.#cinderUrl}/v3/${scoped.projectId}/volumes`,
      {
        volume: {
          name: options.name,
          size: options.sizeGb ?? 1,
          ...(options.volumeType ? { volume_type: options.volumeType } : {}),
          ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
        },
      },
      scoped.token,
    );
    return body.volume;
  }

  /** Every volume of one project, following Cinder's pagination. */
  async listVolumes(projectId?: string): Promise<Volume[]> {
    const own = await this.token();
    const volumes: Volume[] = [];
    const filter = projectId && projectId !== own.projectId ? `&all_tenants=1&project_id=${projectId}` : "";
    let url: string | undefined = `${this.#cinderUrl}/v3/${own.projectId}/volumes/detail?limit=500${filter}`;
    while (url !== undefined) {
      const body: { volumes: Volume[]; volumes_links?: { rel: string; href: string }[] } = await this.#call("GET", url);
      volumes.push(...body.volumes);
      url = body.volumes_links?.find((link) => link.rel === "next")?.href;
    }
    return volumes;
  }

  async #tokenFor(credentials: PasswordCredentials): Promise<IssuedToken> {
    const key = JSON.stringify(credentials);
    const cached = this.#tokens.get(key);
    if (cached && Date.parse(cached.expiresAt) - Date.now() > 60_000) return cached;
    const fresh = await issueToken(credentials);
    this.#tokens.set(key, fresh);
    return fresh;
  }

  async #call<T = unknown>(method: string, url: string, body?: unknown, asToken?: string, extraHeaders: Record<string, string> = {}): Promise<T> {
    const send = async (token: string): Promise<Response> =>
      fetch(url, {
        method,
        headers: {
          "x-auth-token": token,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...extraHeaders,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    let response = await send(asToken ?? (await this.token()).token);
    if (response.status === 401 && asToken === undefined) {
      // A service whose token check failed while Keystone was faulted (a test's proxy) may refuse the cached admin token for a while: take a new one, once.
      await response.text();
      this.#tokens.delete(JSON.stringify(this.#credentials));
      response = await send((await this.token()).token);
    }
    const text = await response.text();
    if (!response.ok) throw new OpenStackHttpError(method, url, response.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
