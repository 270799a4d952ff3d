/**
 * The block device a directory lives on, named as cAdvisor names devices (`/dev/<DEVNAME>`).
 * cgroup block-I/O files list a device only once the cgroup has done I/O on it, so a
 * container that has read and written nothing on its writable layer's disk has no series
 * at all; with this device known, that container reports its (true) zero counts there, as
 * a cgroup that has done I/O does for every device it touched.
 */
import { stat } from 'node:fs/promises';
import { blockDeviceName } from './cgroup-detail.ts';

export interface BlockDevice {
  device: string;
  major: number;
  minor: number;
}

/** Linux's dev_t split (glibc's gnu_dev_major/gnu_dev_minor). */
export function splitDevT(dev: bigint): { major: number; minor: number } {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor };
}

/** undefined when `dir` is on no block device (tmpfs, overlay, a network filesystem) or cannot be read. */
export async function blockDeviceOf(dir: string, sys = '/sys'): Promise<BlockDevice | undefined> {
  const st = await stat(dir, { bigint: true }).catch(() => undefined);
  if (!st) return undefined;
  const { major, minor } = splitDevT(st.dev);
  if (major === 0) return undefined; // anonymous devices: tmpfs, overlay, btrfs subvolumes…
  const device = await blockDeviceName(major, minor, sys);
  return device === undefined ? undefined : { device, major, minor };
}
