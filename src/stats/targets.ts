/**
 * What the stats code needs to know about containers and pods, and what it produces: its
 * own plain types, so that src/stats depends on neither CRI messages nor records. The
 * composition root maps records to targets; server/ maps usages to CRI messages.
 */
import type { BlockDevice } from './block-device.ts';
import type { CgroupSample } from './cgroup.ts';
import type { InterfaceCounters } from './net-dev.ts';

export interface ContainerTarget {
  id: string;
  podId: string;
  /** Only running containers are sampled; others report their last sample. */
  running: boolean;
  pid: number;
  /** The memory cgroup dir recorded at create ('' when unknown). */
  memoryCgroupDir: string;
  /** The container's overlay upper dir (its writable layer). */
  writableLayerDir: string;
}

export interface PodTarget {
  id: string;
  /** Cgroup parent in cgroupfs syntax, '' when the pod has none of its own. */
  cgroupfsParent: string;
  /** Pinned netns file; undefined for host-network pods and pods without one. */
  netnsPath: string | undefined;
  infraPid: number;
}

/** The source of targets: live records, asked on every tick. */
export interface StatsTargets {
  containers(): ContainerTarget[];
  pods(): PodTarget[];
}

export interface DiskUsageSample {
  atNs: bigint;
  bytes: number;
  inodes: number;
}

export interface NetworkSample {
  atNs: bigint;
  interfaces: InterfaceCounters[];
}

/** One container's usage as reported: cgroup reading, CPU rate, writable layer. */
export interface ContainerUsage {
  id: string;
  podId: string;
  atNs: bigint;
  cgroup: CgroupSample | undefined;
  /** CPU rate over the last sampling window, in billionths of a core. */
  nanoCores: number | undefined;
  /** container_cpu_load_average_10s in milliLoad (cpu-load.ts); undefined before a sample. */
  loadMilli: number | undefined;
  disk: DiskUsageSample | undefined;
  /** Mount point the writable layer lives on (FilesystemUsage.fs_id). */
  fsMountpoint: string;
  /** The block device under fsMountpoint; undefined when it is on none. */
  layerDevice: BlockDevice | undefined;
}

export interface PodUsage {
  id: string;
  atNs: bigint;
  cgroup: CgroupSample | undefined;
  nanoCores: number | undefined;
  network: NetworkSample | undefined;
  containers: ContainerUsage[];
}
