/**
 * Facts about this host that the pure spec builder needs (spec/inputs.ts HostFacts),
 * looked up once at start-up except for mount propagation and device nodes, which can
 * change and are read per CreateContainer.
 */
import { readdir, readFile, stat, access } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import type { HostDevice, HostFacts, MountPropagationMode } from './spec/inputs.ts';
import { ALL_CAPABILITIES } from './spec/security.ts';
import { detectCgroupControllers } from '../host/cgroup-controllers.ts';
import { detectAppArmor, loadedProfiles } from '../host/apparmor.ts';

/** CAP_SYS_RESOURCE's bit in /proc/self/status CapEff (linux/capability.h). */
const CAP_SYS_RESOURCE = 24n;

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/** True when the daemon holds CAP_SYS_RESOURCE, i.e. may lower an oom_score_adj. */
export function hasSysResource(procStatus: string): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(procStatus);
  return m !== null && ((BigInt(`0x${m[1]}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
}

/**
 * The lowest oom_score_adj a container may get (DESIGN "Facts about these machines"):
 * without CAP_SYS_RESOURCE, nothing below the daemon's own value (containerd
 * `restrict_oom_score_adj`).
 */
async function detectMinOomScoreAdj(): Promise<{ min: number; restricted: boolean }> {
  const status = await readFile('/proc/self/status', 'utf8');
  if (hasSysResource(status)) return { min: -1000, restricted: false };
  const own = Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim());
  return { min: Number.isFinite(own) ? own : 0, restricted: true };
}

/** mount_setattr(2) and with it recursive read-only mounts arrived in Linux 5.12. */
export function kernelSupportsRro(kernelRelease: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 12);
}

interface MountEntry {
  point: string;
  propagation: MountPropagationMode;
}

/** /proc/self/mountinfo lines → mount point and its propagation (optional fields 7…). */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 7) continue;
    const point = (f[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const sep = f.indexOf('-');
    const optional = f.slice(6, sep < 0 ? undefined : sep);
    const propagation: MountPropagationMode = optional.some((o) => o.startsWith('shared:')) ? 'shared'
      : optional.some((o) => o.startsWith('master:')) ? 'slave' : 'private';
    out.push({ point, propagation });
  }
  return out;
}

/** The propagation of the mount holding `path`: the last-mounted, longest matching mount point. */
export function propagationOf(entries: readonly MountEntry[], path: string): MountPropagationMode {
  let best: MountEntry | undefined;
  for (const e of entries) {
    const within = path === e.point || e.point === '/' || path.startsWith(`${e.point}/`);
    if (within && (best === undefined || e.point.length >= best.point.length)) best = e;
  }
  return best?.propagation ?? 'private';
}

/** A device node as the spec wants it; undefined when `path` is not a device. */
export async function statDevice(path: string): Promise<HostDevice | undefined> {
  const st = await stat(path);
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (type === undefined) return undefined;
  const rdev = st.rdev;
  // glibc's gnu_dev_major/minor on the 64-bit dev_t.
  const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff);
  return { path, type, major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** Devices a privileged container gets: the host's /dev, minus pts, shm, mqueue and console (containerd). */
async function listHostDevices(dir = '/dev'): Promise<HostDevice[]> {
  const out: HostDevice[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (['pts', 'shm', 'mqueue', 'fd'].includes(entry.name)) continue;
      out.push(...(await listHostDevices(path).catch(() => [])));
    } else if ((entry.isCharacterDevice() || entry.isBlockDevice()) && path !== '/dev/console') {
      const dev = await statDevice(path).catch(() => undefined);
      if (dev) out.push(dev);
    }
  }
  return out;
}

export interface StaticHostFacts {
  cgroupVersion: 1 | 2;
  /** Controllers usable by the runtime (see parseV1Controllers); limits for others are dropped. */
  cgroupControllers: readonly string[];
  cgroupDriver: 'cgroupfs' | 'systemd';
  minOomScoreAdj: number;
  oomScoreAdjRestricted: boolean;
  rroSupported: boolean;
  apparmorEnabled: boolean;
  swapControllerAvailable: boolean;
  arch: string;
  boundingCapabilities: readonly string[];
}

/** Capability names whose bits are set in a /proc/PID/status `CapBnd:` hex mask. */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask & (1n << BigInt(bit))) !== 0n);
}

async function ownBoundingSet(): Promise<readonly string[]> {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(await readFile('/proc/self/status', 'utf8'));
  return m ? capabilitiesFromMask(m[1]!) : ALL_CAPABILITIES;
}

/** What does not change while the daemon runs. */
export async function detectStaticHostFacts(cgroupDriver: 'cgroupfs' | 'systemd'): Promise<StaticHostFacts> {
  const cgroupVersion = (await exists('/sys/fs/cgroup/cgroup.controllers')) ? 2 : 1;
  const oom = await detectMinOomScoreAdj();
  const boundingCapabilities = await ownBoundingSet();
  const apparmor = (await detectAppArmor()).enabled;
  const swap = cgroupVersion === 1
    ? await exists('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes')
    : (await readFile('/proc/swaps', 'utf8').catch(() => '')).trim().split('\n').length > 1;
  const cgroupControllers = await detectCgroupControllers(cgroupVersion);
  return {
    cgroupVersion, cgroupControllers, cgroupDriver, minOomScoreAdj: oom.min, oomScoreAdjRestricted: oom.restricted,
    rroSupported: kernelSupportsRro(release()), apparmorEnabled: apparmor, swapControllerAvailable: swap, arch: process.arch,
    boundingCapabilities,
  };
}

/**
 * HostFacts for one CreateContainer: fresh mount propagation, host devices only when
 * privileged, and the loaded AppArmor profiles where AppArmor is enabled (an operator may
 * load a Localhost profile at any time).
 */
export async function hostFactsFor(fixed: StaticHostFacts, privileged: boolean): Promise<HostFacts> {
  const [mountinfo, hostDevices, apparmorProfiles] = await Promise.all([
    readFile('/proc/self/mountinfo', 'utf8'),
    privileged ? listHostDevices() : [],
    fixed.apparmorEnabled ? loadedProfiles() : undefined,
  ]);
  const mounts = parseMountinfo(mountinfo);
  return {
    ...fixed,
    hostMountPropagation: (path) => propagationOf(mounts, path),
    hostDevices,
    ...(apparmorProfiles === undefined ? {} : { apparmorProfiles }),
  };
}
