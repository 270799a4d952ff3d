/**
 * Gathers what the pure spec builder needs (spec/inputs.ts) for one CreateContainer: the
 * I/O the builder must not do. Host paths of mounts and devices are resolved (symlinks
 * followed) and must exist (cri-api.md §4 item 19); the image's /etc/passwd and /etc/group
 * come from the mounted rootfs; a Localhost seccomp profile is read from its absolute path.
 */
import { mkdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerConfig__Output } from '../generated/cri/runtime/v1/ContainerConfig.ts';
import type { NamespaceOption__Output } from '../generated/cri/runtime/v1/NamespaceOption.ts';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig.ts';
import { InvalidArgumentError, NotFoundError } from '../lib/errors.ts';
import type { SandboxRecord } from '../sandbox/sandbox-service.ts';
import type { HostDevice, PodContext } from './spec/inputs.ts';
import { seccompLocalhostPath } from './spec/seccomp.ts';
import { isImageMount } from './spec/mounts.ts';
import { statDevice } from './host-facts.ts';
import { readFileInRoot } from '../storage/rootfs-path.ts';
import { PathInRootError } from '../storage/errors.ts';
import { NamespaceMode } from '../generated/cri/runtime/v1/NamespaceMode.ts';
import { idMaps } from '../sandbox/sandbox-config.ts';

/**
 * A file of the image (/etc/passwd, /etc/group), resolved inside the rootfs: an image whose
 * /etc is a symlink to /etc reads its own /etc, never the host's (issue 12 class 1).
 * Undefined when the image has no such regular file: a loop, a non-directory on the way, a
 * FIFO or a directory at the path mean the same inside the container, and the file is read
 * for every container, also those that never look a name up. A name lookup then fails with
 * "not found in the image's /etc/passwd". A file too big to be one is an error.
 */
export async function readRootfsFile(rootfs: string, path: string): Promise<string | undefined> {
  try {
    return await readFileInRoot(rootfs, path);
  } catch (err) {
    if (err instanceof PathInRootError && err.reason !== 'EFBIG') return undefined;
    throw err;
  }
}

async function resolveHostPath(path: string, what: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${what}: host path ${JSON.stringify(path)} does not exist`, { cause: err });
    throw new InvalidArgumentError(`${what}: host path ${JSON.stringify(path)} cannot be resolved`, { cause: err });
  }
}

/**
 * A bind mount's source, resolved. One that does not exist is created as a directory
 * (0755), as containerd and CRI-O do: the kubelet has already checked hostPath volumes of
 * a type that must exist (File, Socket, …), and kube-proxy mounts `/lib/modules`, which
 * not every host has.
 */
async function resolveMountSource(path: string, what: string): Promise<string> {
  if (!path.startsWith('/')) throw new InvalidArgumentError(`${what}: host_path ${JSON.stringify(path)} must be an absolute path`);
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return resolveHostPath(path, what);
  }
  try {
    await mkdir(path, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new InvalidArgumentError(`${what}: host path ${JSON.stringify(path)} does not exist and cannot be created as a directory`, { cause: err });
  }
  return resolveHostPath(path, what);
}

/**
 * The config with mount host paths resolved (missing ones created; image volumes untouched), and the pod's namespace modes where the
 * container names none (a container always joins its pod's network and IPC; the kubelet
 * sends them, other clients may not).
 */
export async function resolveConfig(config: ContainerConfig__Output, podConfig: PodSandboxConfig__Output): Promise<ContainerConfig__Output> {
  // An image volume has no host path: CreateContainer mounts the image (image-volumes.ts).
  const mounts = await Promise.all(config.mounts.map(async (m) => (isImageMount(m) ? m : {
    ...m, host_path: await resolveMountSource(m.host_path, `mount ${JSON.stringify(m.container_path)}`),
  })));
  const linux = config.linux;
  const sc = linux?.security_context ?? null;
  const podOpts = podConfig.linux?.security_context?.namespace_options ?? null;
  if (linux === null || sc === null || sc.namespace_options !== null || podOpts === null) return { ...config, mounts };
  const namespace_options: NamespaceOption__Output = { ...podOpts };
  return { ...config, mounts, linux: { ...linux, security_context: { ...sc, namespace_options } } };
}

/** Device nodes by resolved host path, as the spec builder looks them up. */
export async function devicesByHostPath(config: ContainerConfig__Output): Promise<Map<string, HostDevice>> {
  const out = new Map<string, HostDevice>();
  for (const d of config.devices) {
    const resolved = await resolveHostPath(d.host_path, `device ${JSON.stringify(d.container_path)}`);
    const dev = await statDevice(resolved);
    if (!dev) throw new InvalidArgumentError(`device ${JSON.stringify(d.host_path)} is not a character or block device`);
    out.set(d.host_path, dev);
    out.set(resolved, dev);
  }
  return out;
}

/** The Localhost seccomp profile the config names, parsed; undefined for other choices. */
export async function localhostSeccompProfile(config: ContainerConfig__Output): Promise<unknown> {
  const path = seccompLocalhostPath(config.linux?.security_context ?? null);
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new NotFoundError(`seccomp Localhost profile ${JSON.stringify(path)} cannot be read`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(`seccomp Localhost profile ${JSON.stringify(path)} is not JSON`, { cause: err });
  }
}

/** What the pod prepared for its containers (DESIGN "Pod sandboxes"). */
export function podContext(pod: SandboxRecord): PodContext {
  const ns = pod.status.namespaces;
  const runDir = pod.metadata.runDir;
  const hostIpc = pod.metadata.config.linux?.security_context?.namespace_options?.ipc === NamespaceMode.NODE;
  const ctx: PodContext = {
    sandboxId: pod.id,
    hostname: pod.metadata.hostname,
    cgroupParent: pod.metadata.cgroupParent,
    hostsPath: join(runDir, 'hosts'),
    resolvConfPath: join(runDir, 'resolv.conf'),
    hostnamePath: join(runDir, 'hostname'),
  };
  if (ns.net !== undefined) ctx.netnsPath = ns.net;
  if (ns.ipc !== undefined) ctx.ipcnsPath = ns.ipc;
  if (ns.uts !== undefined) ctx.utsnsPath = ns.uts;
  const userns = pod.metadata.config.linux?.security_context?.namespace_options?.userns_options;
  if (ns.user !== undefined && userns) ctx.userns = { path: ns.user, uids: idMaps(userns.uids), gids: idMaps(userns.gids) };
  if (pod.status.infra !== undefined) ctx.infraPid = pod.status.infra.pid;
  if (pod.status.shmMounted) ctx.shmPath = join(runDir, 'shm');
  else if (hostIpc) ctx.shmPath = '/dev/shm';
  return ctx;
}
