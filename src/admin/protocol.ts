/**
 * The admin API between the daemon and its own CLI: HTTP/1.1 over a root-only unix
 * socket (`<run_root>/admin.sock`). It is not a public API and not CRI; it exists so
 * `critter pull` can show what the daemon's pull is doing and `critter images import`
 * can load an archive into the daemon's store while the daemon runs.
 *
 *   GET  /v1/images            → 200 { images: AdminImage[] }
 *   POST /v1/images/pull       { image, auth? } → 200 NDJSON stream of PullEvent
 *   POST /v1/images/import     { path }         → 200 { images: AdminImage[] }
 *   GET  /v1/status            → 200 AdminStatus
 * Errors outside a stream answer 4xx/5xx with { error, code }.
 */

export const ADMIN_SOCKET_NAME = 'admin.sock';

export const ROUTES = {
  list: '/v1/images',
  pull: '/v1/images/pull',
  import: '/v1/images/import',
  status: '/v1/status',
} as const;

/** `critter status`: a running daemon in a few numbers. */
export interface AdminStatus {
  version: string;
  conditions: { type: string; status: boolean; reason: string; message: string }[];
  /** Pods by state (ready, notready). */
  pods: Record<string, number>;
  /** Containers by state (created, running, exited). */
  containers: Record<string, number>;
  images: { count: number; bytes: number; inodes: number; path: string };
}

/** CRI AuthConfig's fields (snake_case, as crictl and the kubelet send them). */
interface AdminAuth {
  username?: string;
  password?: string;
  auth?: string;
  identity_token?: string;
  registry_token?: string;
}

export interface PullRequestBody {
  image: string;
  auth?: AdminAuth;
}

export interface ImportRequestBody {
  path: string;
}

/**
 * What a layer is doing: `exists` (already stored, skipped), `downloading` (bytes are
 * flowing through download, digest check and extraction), `extracting` (every byte read,
 * the layer is being committed), `done`.
 */
export type LayerState = 'exists' | 'downloading' | 'extracting' | 'done';

export type PullEvent =
  | { layer: string; state: LayerState; bytes: number; total: number }
  | { done: true; imageId: string }
  | { error: string; code: string };

export interface AdminImage {
  id: string;
  names: string[];
  digests: string[];
  size: number;
  created: string;
}

export interface ErrorBody {
  error: string;
  code: string;
}
