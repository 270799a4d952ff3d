/**
 * Host prerequisites: what `critter check` prints and what the daemon verifies at start.
 * A missing hard requirement stops the daemon with one clear line; a missing soft one
 * becomes a false condition in Status. Each names the Debian package that provides it.
 */
import { detectCgroupControllers } from './cgroup-controllers.ts';
import { access, readFile, constants } from 'node:fs/promises';
import { findExecutable } from './find-executable.ts';
import { detectAppArmor, loadedProfiles } from './apparmor.ts';
import { DEFAULT_APPARMOR_PROFILE } from './apparmor-profile.ts';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { criuVersion } from '../oci/runc-checkpoint.ts';
import { probeUserNamespaces, searchableByOthers } from './userns-probe.ts';
import { tmpdir } from 'node:os';
import { MIN_GLIBC, spawnSupport } from '../lib/spawn.ts';

export { findExecutable } from './find-executable.ts';

export interface CheckResult {
  name: string;
  required: boolean;
  ok: boolean;
  /** What was found (a path, a version, a layout) or what is missing. */
  detail: string;
  /** Debian package providing it. */
  pkg: string;
}

async function binary(name: string, what: string, required: boolean, pkg: string, extraDirs: readonly string[] = []): Promise<CheckResult> {
  const path = await findExecutable(what, extraDirs);
  return { name, required, ok: path !== undefined, detail: path ?? `${what} not found`, pkg };
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Which cgroup hierarchy the host mounts: v1, v2 (unified) or hybrid (v1 + v2 at /sys/fs/cgroup/unified). */
async function detectCgroupLayout(): Promise<'v1' | 'v2' | 'hybrid' | 'none'> {
  if (await fileExists('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
  const v1 = await fileExists('/sys/fs/cgroup/memory') || await fileExists('/sys/fs/cgroup/cpu');
  if (v1 && await fileExists('/sys/fs/cgroup/unified/cgroup.controllers')) return 'hybrid';
  return v1 ? 'v1' : 'none';
}

async function overlay(): Promise<CheckResult> {
  const fs = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  const ok = /\toverlay$/m.test(fs) || (await fileExists('/sys/module/overlay'));
  return { name: 'overlayfs', required: true, ok, detail: ok ? 'overlay filesystem available' : 'overlay not in /proc/filesystems (modprobe overlay)', pkg: 'linux kernel module overlay' };
}

async function cgroups(): Promise<CheckResult> {
  const layout = await detectCgroupLayout();
  return { name: 'cgroups', required: true, ok: layout !== 'none', detail: `layout ${layout}`, pkg: 'mount cgroup filesystems (cgroupfs-mount)' };
}

/** Limits the kubelet sends for a controller the host lacks are dropped (one warning at start), never a failed start. */
async function cgroupControllers(): Promise<CheckResult> {
  const layout = await detectCgroupLayout();
  if (layout === 'none') return { name: 'cgroup controllers', required: false, ok: false, detail: 'no cgroup filesystem', pkg: 'mount cgroup filesystems (cgroupfs-mount)' };
  const have = await detectCgroupControllers(layout === 'v2' ? 2 : 1);
  const missing = ['cpu', 'cpuset', 'memory', 'pids', 'hugetlb'].filter((c) => !have.includes(c));
  // No hugetlb is common (containerd tolerates it by default) and costs only hugepage limits.
  return {
    name: 'cgroup controllers', required: false, ok: missing.every((c) => c === 'hugetlb'),
    detail: missing.length ? `missing ${missing.join(', ')}: their container limits are dropped` : `${have.join(' ')}`,
    pkg: 'linux kernel cgroup controllers',
  };
}

async function cniPlugins(config: Config): Promise<CheckResult> {
  const wanted = ['bridge', 'host-local', 'loopback', 'portmap'];
  const missing: string[] = [];
  for (const p of wanted) if (!(await Promise.all(config.cni.plugin_dirs.map((d) => fileExists(join(d, p))))).some(Boolean)) missing.push(p);
  return {
    name: 'CNI plugins', required: false, ok: missing.length === 0,
    detail: missing.length ? `missing ${missing.join(', ')} in ${config.cni.plugin_dirs.join(':')}` : `found in ${config.cni.plugin_dirs.join(':')}`,
    pkg: 'containernetworking-plugins',
  };
}

async function seccompProfile(config: Config): Promise<CheckResult> {
  const ok = await fileExists(config.runtime.seccomp_profile);
  return { name: 'seccomp profile', required: false, ok, detail: ok ? config.runtime.seccomp_profile : `${config.runtime.seccomp_profile} missing`, pkg: 'golang-github-containers-common' };
}

/**
 * AppArmor (issue 12 class 5): soft, since a host without it runs containers as containerd
 * and CRI-O do there, with no profile; but operators must see that RuntimeDefault then
 * confines nothing, and that Localhost profiles are refused.
 */
async function apparmor(config: Config): Promise<CheckResult> {
  const state = await detectAppArmor();
  const name = 'AppArmor';
  const pkg = 'apparmor';
  if (!state.enabled) {
    return { name, required: false, ok: false, detail: `${state.detail}: containers get no AppArmor profile; Localhost profiles are refused`, pkg: 'a kernel booted with AppArmor enabled, then apparmor' };
  }
  const profile = config.runtime.apparmor_profile;
  if (profile !== DEFAULT_APPARMOR_PROFILE) return { name, required: false, ok: true, detail: `enabled; RuntimeDefault is ${profile === 'unconfined' ? 'unconfined' : `profile ${profile}, loaded by the operator`}`, pkg };
  const parser = await findExecutable('apparmor_parser');
  if (parser !== undefined) return { name, required: false, ok: true, detail: `enabled; ${profile} is loaded with ${parser}`, pkg };
  const loaded = (await loadedProfiles()).has(profile);
  return loaded
    ? { name, required: false, ok: true, detail: `enabled; ${profile} already loaded`, pkg }
    : { name, required: false, ok: false, detail: `enabled but apparmor_parser not found: ${profile} cannot be loaded, so containers with the default profile fail to create`, pkg };
}

/**
 * CRIU for CheckpointContainer and restores (issue 14): optional. Present means found and
 * its version known; `criu check` is not run here, since it takes seconds and its verdict
 * depends on the features a checkpoint uses: a failing dump says what CRIU missed.
 */
async function criu(config: Config): Promise<CheckResult> {
  const path = await findExecutable(config.runtime.criu_path);
  if (!path) return { name: 'criu', required: false, ok: false, detail: `${config.runtime.criu_path} not found: CheckpointContainer and restores fail`, pkg: 'criu' };
  const version = await criuVersion(AbortSignal.timeout(3_000), path);
  return { name: 'criu', required: false, ok: version !== undefined, detail: version ? `${path} version ${version}` : `${path} does not answer --version`, pkg: 'criu' };
}

/**
 * Pod user namespaces (KEP-127, issue 13): optional. The probe (userns-probe.ts) runs on the
 * storage root's filesystem when the root exists, else on the temp dir's (said in the
 * detail); the daemon probes its root again at start-up and reports the handler feature
 * user_namespaces from that and from the runtime's `features`.
 */
async function userNamespaces(config: Config): Promise<CheckResult> {
  const rootExists = await access(config.root).then(() => true, () => false);
  const scratch = rootExists ? join(config.root, 'userns-probe') : join(tmpdir(), `critter-userns-probe-${process.pid}`);
  const where = rootExists ? config.root : `${tmpdir()} (the storage root does not exist yet)`;
  let r = await probeUserNamespaces(scratch);
  if (r.ok) r = await searchableByOthers(config.run_root);
  return {
    name: 'user namespaces', required: false, ok: r.ok,
    detail: r.ok ? `id-mapped layers under overlayfs work on ${where}` : `pods with userns_options mode POD are refused: ${r.reason ?? 'probe failed'} (on ${where})`,
    pkg: 'Linux >= 5.19 with id-mapped mounts on the storage root\'s filesystem; util-linux',
  };
}

/** Every child process starts through posix_spawn with closefrom (src/lib/spawn.ts). */
async function glibc(): Promise<CheckResult> {
  const why = spawnSupport();
  const version = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  return { name: 'glibc', required: true, ok: why === null, detail: why ?? `glibc ${version ?? '?'} (>= ${MIN_GLIBC})`, pkg: 'libc6' };
}

/** Runs every check for this config. */
export async function runHostChecks(config: Config): Promise<CheckResult[]> {
  const handler = config.runtime.handlers[config.runtime.default_handler];
  const runtimePkg = (name: string): string => (name.includes('crun') ? 'crun' : 'runc');
  return Promise.all([
    glibc(),
    binary(`runtime ${config.runtime.default_handler}`, handler?.path ?? 'runc', true, runtimePkg(handler?.path ?? 'runc')),
    binary('conmon', config.runtime.conmon_path, true, 'conmon'),
    binary('unshare', 'unshare', true, 'util-linux'),
    binary('nsenter', 'nsenter', true, 'util-linux'),
    overlay(),
    cgroups(),
    cgroupControllers(),
    cniPlugins(config),
    binary('iptables', 'iptables', false, 'iptables'),
    binary('infra process', config.runtime.infra_command, false, 'catatonit'),
    seccompProfile(config),
    apparmor(config),
    criu(config),
    userNamespaces(config),
  ]);
}

/** The checks as an aligned text table. */
export function formatChecks(results: readonly CheckResult[]): string {
  const rows = [['CHECK', 'STATUS', 'DETAIL', 'PACKAGE'], ...results.map((r) => [r.name, r.ok ? 'ok' : r.required ? 'MISSING' : 'missing (optional)', r.detail, r.ok ? '' : r.pkg])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  return rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i] as number) : c)).join('  ').trimEnd()).join('\n') + '\n';
}
