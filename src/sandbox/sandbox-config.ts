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
import { validatePodSysctls } from '../network/sysctls.ts';

export interface PodNamespacePlan {
  hostNetwork: boolean;
  hostIpc: boolean;
  /** pid = POD: the pod needs an infra process to hold its PID namespace. */
  sharedPid: boolean;
  pinned: PinnedNamespaceKind[];
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
  // A pod user namespace is not built yet (issue 13 item 1): refused, never run in the
  // host's user namespace as if it had been granted. Mappings are validated before this.
  if (opts?.userns_options && opts.userns_options.mode === NamespaceMode.POD) {
    throw new UnimplementedError('user namespaces (namespace_options.userns_options mode POD) are not supported yet');
  }
  const hostNetwork = opts?.network === NamespaceMode.NODE;
  const hostIpc = opts?.ipc === NamespaceMode.NODE;
  // cri-api.md item 9: an unset NamespaceOption means POD for pid too.
  const sharedPid = (opts?.pid ?? NamespaceMode.POD) === NamespaceMode.POD;
  const pinned: PinnedNamespaceKind[] = [];
  if (!hostNetwork) pinned.push('net', 'uts');
  if (!hostIpc) pinned.push('ipc');
  return { hostNetwork, hostIpc, sharedPid, pinned };
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
