/**
 * Capabilities from the CRI security context (cri-api.md §4 item 11; containerd
 * internal/cri/opts WithCapabilities). AppArmor is in apparmor.ts.
 */
import type { LinuxContainerSecurityContext__Output } from '../../generated/cri/runtime/v1/LinuxContainerSecurityContext.ts';
import { InvalidArgumentError } from '../../lib/errors.ts';
import type { OciCapabilities } from './oci-spec.ts';

/** Every capability up to CAP_CHECKPOINT_RESTORE (40), in kernel order. */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

const KNOWN = new Set(ALL_CAPABILITIES);

/** CRI sends "NET_ADMIN" (kubelet) or "CAP_NET_ADMIN" (some clients): accept both, any case. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!KNOWN.has(full)) throw new InvalidArgumentError(`unknown capability ${JSON.stringify(name)}`);
  return full;
}

function isAll(name: string): boolean {
  const upper = name.trim().toUpperCase();
  return upper === 'ALL' || upper === 'CAP_ALL';
}

function inKernelOrder(caps: Iterable<string>): string[] {
  const set = new Set(caps);
  return ALL_CAPABILITIES.filter((c) => set.has(c));
}

/**
 * The capability sets. Order of operations follows containerd so that `add: [ALL], drop:
 * [CHOWN]` is everything but CHOWN and `drop: [ALL], add: [NET_BIND_SERVICE]` is just that
 * one: add ALL, drop ALL, add each, drop each. Inheritable stays empty (CVE-2022-24769).
 * Ambient capabilities must also be permitted, inheritable and bounding to take effect.
 * Privileged containers get every capability in `available` (and no ambient ones).
 */
export function buildCapabilities(
  sc: LinuxContainerSecurityContext__Output | null,
  defaults: readonly string[],
  available: readonly string[] = ALL_CAPABILITIES,
): OciCapabilities {
  // "All" means all the daemon itself holds (containerd: privileged = current process caps):
  // asking runc for a capability outside our bounding set fails with EPERM, e.g. on hosts
  // where root lacks CAP_SYS_RESOURCE.
  if (sc?.privileged === true) {
    const all = inKernelOrder(available);
    return { bounding: all, effective: [...all], permitted: [...all], inheritable: [], ambient: [] };
  }
  const caps = new Set(defaults.map(normalizeCapability));
  const add = sc?.capabilities?.add_capabilities ?? [];
  const drop = sc?.capabilities?.drop_capabilities ?? [];
  if (add.some(isAll)) for (const c of available) caps.add(c);
  if (drop.some(isAll)) caps.clear();
  for (const c of add) if (!isAll(c)) caps.add(normalizeCapability(c));
  for (const c of drop) if (!isAll(c)) caps.delete(normalizeCapability(c));
  const ambient = new Set<string>();
  for (const c of sc?.capabilities?.add_ambient_capabilities ?? []) {
    if (isAll(c)) throw new InvalidArgumentError('ALL is not allowed in add_ambient_capabilities');
    const full = normalizeCapability(c);
    ambient.add(full);
    caps.add(full);
  }
  const set = inKernelOrder(caps);
  return { bounding: set, effective: [...set], permitted: [...set], inheritable: inKernelOrder(ambient), ambient: inKernelOrder(ambient) };
}
