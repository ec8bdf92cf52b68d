/**
 * What the peers ask OpenStack, computed (not measured) from their code:
 *
 * - glance_store 4.1.0 (`glance_store/_drivers/cinder.py`): `configure_add`
 *   of every cinder store that sets `cinder_volume_type` calls
 *   `cinder_client.volume_types.find(name=...)`, which cinderclient sends
 *   as one `GET /types?name=<type>&is_public=None`; the client uses one
 *   module-wide keystoneauth Session (`get_cinder_session`), so one token
 *   per process. Stores are configured when glance-api loads: once per
 *   eventlet server (before it forks workers), once per process that loads
 *   the WSGI app. A warning is logged for a missing type; nothing else.
 * - glance-operator (openstack-k8s-operators) and openstack-helm's glance
 *   chart pass the stores' options through to glance-api and check
 *   nothing against Keystone or Cinder.
 */
export interface PeerCounts {
  readonly who: string;
  readonly when: string;
  readonly keystoneAuths: number;
  readonly typeRequests: number;
  readonly note: string;
}

/** For `stores` cinder stores over `targets` glance-api deployments of one process each. */
export function peerCounts(stores: number, targets: number): PeerCounts[] {
  return [
    {
      who: "glance_store 4.1.0 (inside glance-api)",
      when: "every glance-api start, all targets (1 process each)",
      keystoneAuths: targets,
      typeRequests: stores,
      note: "one `GET /types?name=` per store; a missing type only logs a warning",
    },
    { who: "glance-operator", when: "any", keystoneAuths: 0, typeRequests: 0, note: "passes the config through, checks nothing" },
    { who: "openstack-helm (glance chart)", when: "any", keystoneAuths: 0, typeRequests: 0, note: "templates the config, checks nothing" },
  ];
}
