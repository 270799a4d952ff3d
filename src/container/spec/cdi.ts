/**
 * CDI devices in the OCI spec (CDI SPEC.md "Container edits"; the cdi package's
 * ContainerEdits.Apply, which containerd and CRI-O call). Pure: the caller resolved the
 * names against the spec files (cdi/cdi-registry.ts) and filled device numbers from the
 * host; this applies the edits to a built spec.
 */
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import type { CdiContainerEdits, CdiDeviceNode } from '../cdi/cdi-spec.ts';
import type { OciMount, OciSpec } from './oci-spec.ts';

/** Device plugins still ask through annotations: `cdi.k8s.io/<plugin>_<id>: "vendor.com/class=a,vendor.com/class=b"`. */
const CDI_ANNOTATION_PREFIX = 'cdi.k8s.io/';

/** A device node whose type and numbers are known (filled from the host when the spec left them out). */
export type ResolvedDeviceNode = CdiDeviceNode & { type: 'c' | 'b'; major: number; minor: number };

export type ResolvedEdits = Omit<CdiContainerEdits, 'deviceNodes'> & { deviceNodes?: ResolvedDeviceNode[] };

/** Edits to apply: each spec's own edits once, then each device's, in request order. */
export interface ResolvedCdi {
  devices: string[];
  edits: ResolvedEdits[];
}

/** The fully-qualified names a container asks for: the CRI field first, then the annotations (sorted by key), without repeats. */
export function requestedCdiDevices(config: Pick<ContainerConfig__Output, 'CDI_devices' | 'annotations'>): string[] {
  const names = config.CDI_devices.map((d) => d.name);
  for (const key of Object.keys(config.annotations ?? {}).sort()) {
    if (!key.startsWith(CDI_ANNOTATION_PREFIX)) continue;
    for (const n of (config.annotations[key] ?? '').split(',')) if (n.trim() !== '') names.push(n.trim());
  }
  return [...new Set(names)];
}

/** Mount destinations by depth, parents first, so a mount never hides one below it (the cdi package sorts the same way). */
function depth(m: OciMount): number {
  return m.destination.split('/').filter(Boolean).length;
}

/** Applies resolved CDI edits to `spec` in place. */
export function applyCdiEdits(spec: OciSpec, cdi: ResolvedCdi): void {
  for (const e of cdi.edits) {
    for (const kv of e.env ?? []) {
      const key = kv.slice(0, kv.indexOf('=') + 1);
      const at = spec.process.env.findIndex((x) => x.startsWith(key));
      if (at >= 0) spec.process.env[at] = kv;
      else spec.process.env.push(kv);
    }
    for (const n of e.deviceNodes ?? []) {
      const dev = { path: n.path, type: n.type, major: n.major, minor: n.minor, ...(n.fileMode !== undefined ? { fileMode: n.fileMode } : {}), ...(n.uid !== undefined ? { uid: n.uid } : {}), ...(n.gid !== undefined ? { gid: n.gid } : {}) };
      const at = spec.linux.devices.findIndex((d) => d.path === n.path);
      if (at >= 0) spec.linux.devices[at] = dev;
      else spec.linux.devices.push(dev);
      spec.linux.resources.devices.push({ allow: true, type: n.type, major: n.major, minor: n.minor, access: n.permissions ?? 'rwm' });
    }
    for (const m of e.mounts ?? []) {
      const type = m.type ?? 'bind';
      const options = [...(m.options ?? [])];
      // runc bind-mounts only with "bind" or "rbind" among the options.
      if (type === 'bind' && !options.includes('bind') && !options.includes('rbind')) options.push('bind');
      spec.mounts.push({ destination: m.containerPath, type, source: m.hostPath, options });
    }
    for (const h of e.hooks ?? []) {
      spec.hooks ??= {};
      (spec.hooks[h.hookName] ??= []).push({ path: h.path, ...(h.args ? { args: h.args } : {}), ...(h.env ? { env: h.env } : {}), ...(h.timeout !== undefined ? { timeout: h.timeout } : {}) });
    }
    for (const gid of e.additionalGids ?? []) {
      // gid 0 is never added (the cdi package skips it: root's group is not a device group).
      const gids = (spec.process.user.additionalGids ??= []);
      if (gid !== 0 && !gids.includes(gid)) gids.push(gid);
    }
  }
  if (cdi.edits.some((e) => (e.mounts?.length ?? 0) > 0)) {
    spec.mounts = spec.mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m) - depth(b.m) || a.i - b.i).map((x) => x.m);
  }
  if (cdi.devices.length > 0) spec.annotations['cdi.k8s.io/devices'] = cdi.devices.join(',');
}
