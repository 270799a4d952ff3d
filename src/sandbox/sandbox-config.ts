/**
 * Validation of a RunPodSandbox request and its translation into the lower layers' own
 * types (network/ speaks no CRI).
 */
import { createHash } from 'node:crypto';
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig.ts';
import { NamespaceMode } from '../generated/cri/runtime/v1/NamespaceMode.ts';
import { Protocol } from '../generated/cri/runtime/v1/Protocol.ts';
import { InvalidArgumentError, UnimplementedError } from '../lib/errors.ts';
import type { BandwidthSpec, PortMappingSpec } from '../network/cni-types.ts';
import type { PinnedNamespaceKind } from '../network/netns.ts';
import type { IdMap } from '../network/userns.ts';
import type { IDMapping__Output } from '../generated/cri/runtime/v1/IDMapping.ts';
import { validatePodSysctls } from '../network/sysctls.ts';

export interface PodNamespacePlan {
  hostNetwork: boolean;
  hostIpc: boolean;
  /** pid = POD: the pod needs an infra process to hold its PID namespace. */
  sharedPid: boolean;
  pinned: Exclude<PinnedNamespaceKind, 'user'>[];
  /** userns_options mode POD: the pod's own user namespace with the kubelet's mappings. */
  userns?: { uids: IdMap[]; gids: IdMap[] };
}

export function idMaps(maps: readonly IDMapping__Output[]): IdMap[] {
  return maps.map((m) => ({ containerId: m.container_id, hostId: m.host_id, length: m.length }));
}

/** Throws InvalidArgumentError naming the first missing or malformed field. */
export function validateSandboxConfig(config: PodSandboxConfig__Output | null): asserts config is PodSandboxConfig__Output {
  if (!config) throw new InvalidArgumentError('config is required');
  const md = config.metadata;
  if (!md) throw new InvalidArgumentError('config.metadata is required');
  for (const field of ['name', 'namespace', 'uid'] as const) {
    if (!md[field]) throw new InvalidArgumentError(`config.metadata.${field} is required`);
  }
  if (/[\s/]/.test(md.name) || /[\s/]/.test(md.namespace)) throw new InvalidArgumentError(`config.metadata name "${md.name}" / namespace "${md.namespace}" must not contain spaces or "/"`);
  if (config.hostname && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(config.hostname)) throw new InvalidArgumentError(`config.hostname "${config.hostname}" is not a valid hostname`);
  for (const [i, pm] of config.port_mappings.entries()) {
    if (pm.container_port <= 0 || pm.container_port > 65535) throw new InvalidArgumentError(`config.port_mappings[${i}].container_port ${pm.container_port} is out of range`);
    if (pm.host_port < 0 || pm.host_port > 65535) throw new InvalidArgumentError(`config.port_mappings[${i}].host_port ${pm.host_port} is out of range`);
  }
  const plan = namespacePlan(config);
  validatePodSysctls(config.linux?.sysctls ?? {}, { net: !plan.hostNetwork, ipc: !plan.hostIpc });
}

export function podName(config: PodSandboxConfig__Output): string {
  const md = config.metadata!;
  return `${md.name}_${md.namespace}_${md.uid}_${md.attempt}`;
}

export function configDigest(config: PodSandboxConfig__Output): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex');
}

export function namespacePlan(config: PodSandboxConfig__Output): PodNamespacePlan {
  const opts = config.linux?.security_context?.namespace_options;
  const hostNetwork = opts?.network === NamespaceMode.NODE;
  const hostIpc = opts?.ipc === NamespaceMode.NODE;
  // cri-api.md item 9: an unset NamespaceOption means POD for pid too.
  const sharedPid = (opts?.pid ?? NamespaceMode.POD) === NamespaceMode.POD;
  const pinned: PodNamespacePlan['pinned'] = [];
  if (!hostNetwork) pinned.push('net', 'uts');
  if (!hostIpc) pinned.push('ipc');
  const plan: PodNamespacePlan = { hostNetwork, hostIpc, sharedPid, pinned };
  const userns = opts?.userns_options;
  // Mappings are validated before this (server/validate/userns.ts).
  if (userns && userns.mode === NamespaceMode.POD) {
    // The pod's root would own the host's network namespace: the runtime feature
    // user_namespaces_host_network is reported false.
    if (hostNetwork) throw new UnimplementedError('user namespaces (userns_options mode POD) with the host network (network mode NODE) are not supported');
    // The kubelet refuses hostIPC and hostPID with hostUsers: false (KEP-127).
    if (hostIpc) throw new InvalidArgumentError('config.linux.security_context.namespace_options.ipc: mode NODE cannot be combined with userns_options mode POD');
    if (opts?.pid === NamespaceMode.NODE) throw new InvalidArgumentError('config.linux.security_context.namespace_options.pid: mode NODE cannot be combined with userns_options mode POD');
    plan.userns = { uids: idMaps(userns.uids), gids: idMaps(userns.gids) };
  }
  return plan;
}

const PROTOCOL_NAMES: Record<number, PortMappingSpec['protocol']> = { [Protocol.TCP]: 'tcp', [Protocol.UDP]: 'udp', [Protocol.SCTP]: 'sctp' };

/** CRI port mappings with a host port, as the portmap plugin's runtimeConfig wants them. */
export function portMappingsFor(config: PodSandboxConfig__Output): PortMappingSpec[] {
  return config.port_mappings
    .filter((pm) => pm.host_port > 0)
    .map((pm) => ({ hostPort: pm.host_port, containerPort: pm.container_port, protocol: PROTOCOL_NAMES[pm.protocol] ?? 'tcp', hostIP: pm.host_ip }));
}

const QUANTITY = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/;
const MULTIPLIERS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
/** The kubelet's burst for the bandwidth plugin (pkg/kubelet/network bandwidth: math.MaxInt32). */
const BANDWIDTH_BURST = 2147483647;

/** Parses a Kubernetes resource quantity of bits per second (`10M`, `1Gi`). */
function parseBitRate(annotation: string, value: string): number {
  const m = QUANTITY.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`annotation ${annotation}: "${value}" is not a quantity like 10M`);
  return Math.round(Number(m[1]) * (MULTIPLIERS[m[2] ?? ''] ?? 1));
}

/** Bandwidth from the pod annotations kubernetes.io/ingress-bandwidth and egress-bandwidth. */
export function bandwidthFor(annotations: Record<string, string>): BandwidthSpec | undefined {
  const ingress = annotations['kubernetes.io/ingress-bandwidth'];
  const egress = annotations['kubernetes.io/egress-bandwidth'];
  if (ingress === undefined && egress === undefined) return undefined;
  const spec: BandwidthSpec = {};
  if (ingress !== undefined) {
    spec.ingressRate = parseBitRate('kubernetes.io/ingress-bandwidth', ingress);
    spec.ingressBurst = BANDWIDTH_BURST;
  }
  if (egress !== undefined) {
    spec.egressRate = parseBitRate('kubernetes.io/egress-bandwidth', egress);
    spec.egressBurst = BANDWIDTH_BURST;
  }
  return spec;
}
