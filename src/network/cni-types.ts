/**
 * The network layer's own vocabulary (no CRI types below sandbox/): what a pod asks
 * of the network, and what it gets back.
 */
import type { Op } from '../lib/op.ts';
import type { NetworkReadiness } from './cni-config.ts';

export interface PortMappingSpec {
  hostPort: number;
  containerPort: number;
  /** Lower case, as the portmap plugin expects. */
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP: string;
}

/** bits per second and bits, as the bandwidth plugin's runtimeConfig wants them. */
export interface BandwidthSpec {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

interface DnsSpec {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface PodAttachment {
  podId: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  /** Path of the pinned netns file. */
  netnsPath: string;
  ifName: string;
  portMappings: PortMappingSpec[];
  bandwidth?: BandwidthSpec;
  dns?: DnsSpec;
}

export interface AttachResult {
  network: string;
  /** Addresses without prefix length, IPv4 first (the pod's primary IP). */
  ips: string[];
  /** The final plugin result, for verbose status. */
  result: unknown;
}

/** What sandbox/ needs from the network layer; FakeCni implements it for unit tests. */
export interface Cni {
  readiness(): NetworkReadiness;
  /** Loopback up + ADD through the current network's plugin chain. */
  setUp(op: Op, attachment: PodAttachment): Promise<AttachResult>;
  /** DEL with the config and result cached at ADD; a no-op when nothing was attached. */
  tearDown(op: Op, attachment: PodAttachment): Promise<void>;
  /** Releases attachments of pods not in `livePodIds` (CNI GC, or DEL of cached leftovers). */
  gc(op: Op, livePodIds: ReadonlySet<string>): Promise<void>;
}
