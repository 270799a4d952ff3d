/**
 * Which sysctls a pod may set, and in which of its namespaces (cri-api.md item 13;
 * Kubernetes "Using sysctls in a Kubernetes Cluster": only namespaced sysctls are
 * allowed per pod). Anything else would change the whole node, so it is refused.
 */
import { InvalidArgumentError } from '../lib/errors.ts';

export type SysctlNamespace = 'net' | 'ipc';

const IPC_EXACT = new Set(['kernel.sem']);
const IPC_PREFIXES = ['kernel.shm', 'kernel.msg', 'fs.mqueue.'];

/** Kubernetes accepts both `a.b.c` and `a/b/c`; sysctl(8) wants dots between components. */
export function normaliseSysctlName(name: string): string {
  // NUL stands in for '.' while the two separators swap: no sysctl name can hold one.
  // eslint-disable-next-line no-control-regex -- the NUL is the placeholder, on purpose
  return name.includes('/') ? name.replace(/\./g, '\u0000').replace(/\//g, '.').replace(/\u0000/g, '/') : name;
}

/** The namespace a sysctl lives in, or undefined when it is not namespaced. */
export function sysctlNamespace(name: string): SysctlNamespace | undefined {
  const n = normaliseSysctlName(name);
  if (n.startsWith('net.')) return 'net';
  if (IPC_EXACT.has(n) || IPC_PREFIXES.some((p) => n.startsWith(p))) return 'ipc';
  return undefined;
}

/**
 * Checks every sysctl against the namespaces the pod actually owns; throws
 * InvalidArgumentError naming the first bad one.
 */
export function validatePodSysctls(sysctls: Record<string, string>, owns: { net: boolean; ipc: boolean }): void {
  for (const [name, value] of Object.entries(sysctls)) {
    const ns = sysctlNamespace(name);
    if (!ns) throw new InvalidArgumentError(`sysctl "${name}" is not namespaced and cannot be set for a pod`);
    if (!owns[ns]) throw new InvalidArgumentError(`sysctl "${name}" needs the pod's own ${ns} namespace, but the pod uses the host's`);
    if (/[\s=]/.test(name) || /[\n\0]/.test(value)) throw new InvalidArgumentError(`sysctl "${name}" has a malformed name or value "${value}"`);
  }
}
