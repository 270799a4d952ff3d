/**
 * The pod's cgroup parent as the chosen driver spells it (cri-api.md item 33): the
 * kubelet sends cgroupfs syntax (`/kubepods/burstable/pod<uid>`) even on systemd hosts,
 * where it must become a slice (`kubepods-burstable-pod<uid>.slice`; systemd.slice(5):
 * a dash in a slice name means nesting, so dashes inside a component become underscores).
 */
import { InvalidArgumentError } from '../lib/errors.ts';

export type CgroupDriverName = 'cgroupfs' | 'systemd';

export function cgroupParentFor(driver: CgroupDriverName, requested: string): string {
  if (requested === '') return '';
  if (driver === 'cgroupfs') {
    if (requested.endsWith('.slice')) throw new InvalidArgumentError(`linux.cgroup_parent "${requested}" is a systemd slice, but the cgroup driver is cgroupfs`);
    if (!requested.startsWith('/')) throw new InvalidArgumentError(`linux.cgroup_parent "${requested}" must be an absolute cgroupfs path`);
    return requested;
  }
  if (requested.endsWith('.slice')) return requested;
  const parts = requested.split('/').filter(Boolean).map((p) => p.replace(/-/g, '_'));
  if (parts.length === 0) return '-.slice';
  return `${parts.join('-')}.slice`;
}
