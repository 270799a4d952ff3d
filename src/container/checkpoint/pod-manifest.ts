/**
 * The pod checkpoint's manifest (KEP-5823 leaves the layout to the runtime): one JSON file
 * in the checkpoint directory, versioned, naming the pod's config at checkpoint time and,
 * per container, its name, config, image and archive (a CheckpointContainer archive, so
 * each one can also be restored alone with CreateContainer). RestorePod reads it back and
 * matches the restore-time configs against it by container name.
 */
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig.ts';
import { InvalidArgumentError } from '../../lib/errors.ts';
import { shown } from '../../lib/shown.ts';

export const POD_MANIFEST = 'pod-checkpoint.json';
export const POD_MANIFEST_FORMAT = 'critter.pod-checkpoint';
/** Bumped when a reader of the old layout could misread the new one. */
export const POD_MANIFEST_VERSION = 1;

export interface PodManifestContainer {
  /** ContainerMetadata.name: how RestorePod matches restore-time configs. */
  name: string;
  /** The checkpointed container's id (informational). */
  id: string;
  /** File name of its archive, inside the checkpoint directory. */
  archive: string;
  image: { requested: string; id: string; ref: string };
  config: ContainerConfig__Output;
}

export interface PodManifest {
  format: typeof POD_MANIFEST_FORMAT;
  version: number;
  checkpointedAt: string;
  runtimeHandler: string;
  pod: { id: string; config: PodSandboxConfig__Output };
  containers: PodManifestContainer[];
}

/** The archive file of a container: its name is a CRI name (no "/" or spaces; checked at create). */
export function archiveNameFor(containerName: string): string {
  return `${containerName}.tar`;
}

const isSafeFileName = (n: unknown): n is string => typeof n === 'string' && n !== '' && !n.includes('/') && !n.includes('\0') && n !== '.' && n !== '..';

/**
 * Parses a manifest, refusing what RestorePod cannot use. The directory is the caller's:
 * archive names that would leave it are refused, not followed.
 */
export function parsePodManifest(text: string, where: string): PodManifest {
  const bad = (why: string): InvalidArgumentError => new InvalidArgumentError(`checkpoint_path ${shown(where)}: ${why}`);
  let m: Partial<PodManifest>;
  try {
    m = JSON.parse(text) as Partial<PodManifest>;
  } catch {
    throw bad(`${POD_MANIFEST} is not JSON`);
  }
  if (m === null || typeof m !== 'object' || m.format !== POD_MANIFEST_FORMAT) throw bad(`${POD_MANIFEST} is not a critter pod checkpoint manifest`);
  if (m.version !== POD_MANIFEST_VERSION) throw bad(`${POD_MANIFEST} has version ${shown(String(m.version))}; this critter reads version ${POD_MANIFEST_VERSION}`);
  if (!m.pod || typeof m.pod !== 'object' || !m.pod.config) throw bad(`${POD_MANIFEST} has no pod config`);
  if (!Array.isArray(m.containers) || m.containers.length === 0) throw bad(`${POD_MANIFEST} names no containers`);
  const names = new Set<string>();
  for (const c of m.containers) {
    if (!c || typeof c.name !== 'string' || c.name === '' || !c.config || !c.image) throw bad(`${POD_MANIFEST} has a container without name, config or image`);
    if (!isSafeFileName(c.archive)) throw bad(`${POD_MANIFEST}: container ${shown(c.name)} has archive ${shown(String(c.archive))}, not a file name in the directory`);
    if (names.has(c.name)) throw bad(`${POD_MANIFEST} names container ${shown(c.name)} twice`);
    names.add(c.name);
  }
  return { format: POD_MANIFEST_FORMAT, version: m.version, checkpointedAt: String(m.checkpointedAt ?? ''), runtimeHandler: String(m.runtimeHandler ?? ''), pod: m.pod, containers: m.containers };
}

export interface RestorePair {
  /** Index in RestorePodRequest.container_configs (error paths name it). */
  index: number;
  config: ContainerConfig__Output;
  entry: PodManifestContainer;
}

/** What the restore-time image names: the checkpointed image's id when the daemon has that image, else undefined. */
export type ImageIdOf = (image: string) => string | undefined;

/** An env value as text: a Buffer on the wire, `{type: 'Buffer', data}` once through JSON (records, the manifest). */
function envText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  const data = (v as { data?: unknown } | null)?.data;
  return Array.isArray(data) ? Buffer.from(data as number[]).toString('utf8') : '';
}

const envList = (c: ContainerConfig__Output): string[] => (c.envs ?? []).map((e) => `${e.key}=${envText(e.value)}`).sort();
const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Matches restore-time configs to the checkpoint by metadata name: exactly the same set of
 * names. The checkpoint owns the process, so what describes it (image, command, args,
 * working dir, environment, user) must be what was checkpointed; a mismatch fails the
 * restore naming the field (api.proto RestorePodRequest.container_configs).
 */
export function matchRestoreConfigs(manifest: PodManifest, configs: readonly ContainerConfig__Output[], imageIdOf: ImageIdOf): RestorePair[] {
  const byName = new Map(manifest.containers.map((c) => [c.name, c]));
  const requested = new Set(configs.map((c) => c.metadata?.name ?? ''));
  const missing = manifest.containers.map((c) => c.name).filter((n) => !requested.has(n));
  if (missing.length > 0) throw new InvalidArgumentError(`container_configs: no restore-time config for checkpointed container(s) ${missing.map((n) => shown(n)).join(', ')}`);
  return configs.map((config, index) => {
    const path = `container_configs[${index}]`;
    const name = config.metadata?.name ?? '';
    const entry = byName.get(name);
    if (!entry) throw new InvalidArgumentError(`${path}.metadata.name ${shown(name)}: the checkpoint has no such container (it has ${manifest.containers.map((c) => shown(c.name)).join(', ')})`);
    const was = entry.config;
    const mismatch = (field: string, got: unknown, want: unknown): InvalidArgumentError =>
      new InvalidArgumentError(`${path}.${field} ${shown(typeof got === 'string' ? got : JSON.stringify(got))}: differs from the checkpointed container's ${shown(typeof want === 'string' ? want : JSON.stringify(want))}`);
    const image = config.image?.image ?? '';
    const id = imageIdOf(image);
    if (image !== entry.image.requested && image !== entry.image.ref && id !== entry.image.id) throw mismatch('image.image', image, entry.image.requested);
    if (!sameList(config.command, was.command ?? [])) throw mismatch('command', config.command, was.command);
    if (!sameList(config.args, was.args ?? [])) throw mismatch('args', config.args, was.args);
    if (config.working_dir !== (was.working_dir ?? '')) throw mismatch('working_dir', config.working_dir, was.working_dir);
    if (!sameList(envList(config), envList(was))) throw mismatch('envs', envList(config), envList(was));
    const user = (c: ContainerConfig__Output): string => JSON.stringify([c.linux?.security_context?.run_as_user?.value ?? null, c.linux?.security_context?.run_as_username ?? '', c.linux?.security_context?.run_as_group?.value ?? null]);
    if (user(config) !== user(was)) throw mismatch('linux.security_context.run_as_user', user(config), user(was));
    return { index, config, entry };
  });
}
