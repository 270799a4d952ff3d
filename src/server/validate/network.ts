/** Port mappings, DNS config and sysctls of a pod (cri-api.md items 12–13). */
import { isIP } from 'node:net';
import type { PortMapping__Output } from '../../generated/cri/runtime/v1/PortMapping.ts';
import type { DNSConfig__Output } from '../../generated/cri/runtime/v1/DNSConfig.ts';
import { Protocol } from '../../generated/cri/runtime/v1/Protocol.ts';
import { sysctlNamespace } from '../../network/sysctls.ts';
import { at, invalid } from './field.ts';
import { checkEnum } from './enums.ts';
import { checkLine, MAX_NAME } from './text.ts';

function checkPort(path: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min || value > 65535) throw invalid(path, value, `must be a port number in ${min}..65535`);
}

export function checkPortMappings(path: string, mappings: readonly PortMapping__Output[]): void {
  for (const [i, pm] of mappings.entries()) {
    const p = at(path, i);
    checkEnum(at(p, 'protocol'), pm.protocol, Protocol);
    checkPort(at(p, 'container_port'), pm.container_port, 1);
    checkPort(at(p, 'host_port'), pm.host_port, 0);
    if (pm.host_ip !== '' && isIP(pm.host_ip) === 0) throw invalid(at(p, 'host_ip'), pm.host_ip, 'is not an IPv4 or IPv6 address');
  }
}

/** resolv.conf is line-based: a newline in a search domain or option would add lines of its own. */
export function checkDnsConfig(path: string, dns: DNSConfig__Output | null): void {
  if (!dns) return;
  for (const [i, s] of dns.servers.entries()) {
    if (isIP(s) === 0) throw invalid(at(at(path, 'servers'), i), s, 'is not an IPv4 or IPv6 address');
  }
  for (const [i, s] of dns.searches.entries()) checkLine(at(at(path, 'searches'), i), s, MAX_NAME);
  for (const [i, s] of dns.options.entries()) checkLine(at(at(path, 'options'), i), s, MAX_NAME);
}

/**
 * Kubernetes' sysctl name syntax (validation.SysctlSegmentFmt): dot- or slash-separated
 * components of [a-z0-9_-], none empty, so `net/../..` and `net.ipv4.....x` fail here, before
 * the name becomes a /proc/sys path.
 */
const SYSCTL_NAME = /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/;
const SYSCTL_MAX = 253;

/** Syntax, then namespaced-ness against the namespaces the pod owns (network/sysctls.ts). */
export function checkSysctls(path: string, sysctls: Readonly<Record<string, string>>, owns: { net: boolean; ipc: boolean }): void {
  for (const [name, value] of Object.entries(sysctls)) {
    const p = `${path}[${name.length > 64 ? JSON.stringify(`${name.slice(0, 64)}…`) : JSON.stringify(name)}]`;
    if (name.length > SYSCTL_MAX || !SYSCTL_NAME.test(name)) throw invalid(`${path} key`, name, 'is not a sysctl name (components of [a-z0-9_-] separated by "." or "/")');
    const ns = sysctlNamespace(name);
    if (ns === undefined) throw invalid(`${path} key`, name, 'is not a namespaced sysctl (only kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* and net.* may be set for a pod)');
    if (!owns[ns]) throw invalid(`${path} key`, name, `needs the pod's own ${ns} namespace, but the pod uses the host's`);
    checkLine(p, value, 4096);
  }
}
