/**
 * What is stored for a pod (state/ RecordStore): metadata.json is the request as the
 * kubelet sent it plus what was decided at create; status.json is what changes.
 */
import type { PodSandboxConfig__Output } from '../generated/cri/runtime/v1/PodSandboxConfig.ts';
import type { PinnedNamespaces } from '../network/netns.ts';
import type { ProcessRef } from '../state/process-identity.ts';
import type { PodResourcesRecord } from './pod-resources.ts';

export interface SandboxMetadata {
  /** `<name>_<namespace>_<uid>_<attempt>`: the reserved name (CRI-O's pod naming). */
  name: string;
  /** sha256 of the config: a retry carries the same one, a clash a different one. */
  configDigest: string;
  config: PodSandboxConfig__Output;
  runtimeHandler: string;
  /** ns since the epoch, as a decimal string (int64 on the wire). */
  createdAt: string;
  hostname: string;
  cgroupParent: string;
  cgroupDriver: 'cgroupfs' | 'systemd';
  /** The pod's run dir: resolv.conf, hosts, hostname, shm. */
  runDir: string;
}

/**
 * creating: RunPodSandbox has not finished (a record left in this state by a crash is
 * cleaned at start-up); ready / notready as in CRI.
 */
type SandboxPhase = 'creating' | 'ready' | 'notready';

export interface SandboxStatusRecord {
  phase: SandboxPhase;
  namespaces: PinnedNamespaces;
  /** True from the moment CNI ADD starts until DEL succeeded. */
  networkAttached: boolean;
  ips: string[];
  cniResult: unknown;
  shmMounted: boolean;
  infra?: ProcessRef;
  /** The last UpdatePodSandboxResources (in-place resize); absent until the first. */
  resources?: PodResourcesRecord;
}
