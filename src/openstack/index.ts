/**
 * The operator's OpenStack client (Keystone v3, Cinder v3 and Glance's
 * store discovery over undici).
 * The controller needs `OpenStackClient` (or the `StoreChecker` interface it
 * implements), the request and result types, and the error classes.
 */
export {
  OpenStackClient,
  type CinderTarget,
  type DefaultVolumeTypeResult,
  type GlanceStoresRequest,
  type GlanceStoresResult,
  type ImageVolumeCountRequest,
  type ImageVolumeCountResult,
  type ImageVolumesByTypeRequest,
  type ImageVolumesByTypeResult,
  type OpenStackClientOptions,
  type OpenStackEvent,
  type OpenStackEventKind,
  type OpenStackObserver,
  type RoundOptions,
  type StoreChecker,
  type StoreCheckRequest,
  type StoreCheckResult,
} from "./client.js";
export {
  AuthFailedError,
  EndpointNotFoundError,
  KeystoneRejectedError,
  isOpenStackError,
  OPENSTACK_ERROR_REASONS,
  OpenStackError,
  TimeoutError,
  UnexpectedError,
  UnreachableError,
  VolumeTypeNotAccessibleError,
  VolumeTypeNotFoundError,
  type CauseSummary,
  type OpenStackErrorReason,
  type OpenStackService,
  type RefusalTimes,
} from "./errors.js";
export { DEFAULT_CATALOG_INFO, findEndpoint, parseCatalogInfo, selectCinderEndpoint, expandEndpointTemplate, type Catalog } from "./catalog.js";
export { DEFAULT_HTTP_RETRIES } from "./backoff.js";
export { AuthRefusals, DEFAULT_AUTH_REFUSAL_HOLD_MS, type AuthRefusal } from "./auth-refusals.js";
export { createDefaultDispatcher, type DispatcherFactory, type DispatcherRequest, type TlsSettings } from "./http.js";
export type { CinderVolume, VolumeTypeInfo } from "./cinder.js";
export { imageVolumesByType, imageVolumesOfType, imageVolumesOfTypes, isImageVolumeName, type ImageVolume, type ImageVolumeTypeCount, type VolumeTypeRef } from "./volumes.js";
export { glanceRootUrl, selectGlanceEndpoint, type GlanceStore } from "./glance.js";
export type { EndpointInterface } from "./catalog.js";
