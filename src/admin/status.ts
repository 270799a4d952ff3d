/**
 * The `critter status` summary, gathered from the running services: version, readiness
 * conditions (as CRI Status reports them), pods and containers counted by state, and
 * the image store's size (the same cached walk ImageFsInfo uses).
 */
import type { AdminStatus } from './protocol.ts';

export interface StatusSources {
  version: string;
  conditions(): AdminStatus['conditions'];
  podStates(): string[];
  containerStates(): string[];
  imageCount(): number;
  storageUsage(): Promise<{ bytes: number; inodes: number; mountpoint: string }>;
}

function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

export async function gatherStatus(src: StatusSources): Promise<AdminStatus> {
  const usage = await src.storageUsage();
  return {
    version: src.version,
    conditions: src.conditions(),
    pods: countBy(src.podStates()),
    containers: countBy(src.containerStates()),
    images: { count: src.imageCount(), bytes: usage.bytes, inodes: usage.inodes, path: usage.mountpoint },
  };
}
