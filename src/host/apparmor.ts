/**
 * AppArmor on this host (issue 12 class 5): whether the kernel enforces it, which profiles
 * are loaded, and loading critter's default profile with `apparmor_parser -Kr`, as
 * containerd (contrib/apparmor LoadDefaultProfile) and CRI-O (containers/common
 * pkg/apparmor InstallDefault) do. `-K` skips the parser's cache, whose keys would not know a
 * re-rendered template; `-r` replaces a profile of that name loaded before.
 */
import { readFile, access } from 'node:fs/promises';
import { FailedPreconditionError, describeError } from '../lib/errors.ts';
import { run } from '../lib/exec.ts';
import type { Op } from '../lib/op.ts';
import { quoteBounded } from '../storage/errors.ts';
import { findExecutable } from './find-executable.ts';
import { hostProfileParams, renderProfile, PROFILE_TEMPLATE_PATH, APPARMOR_POLICY_DIR } from './apparmor-profile.ts';

export interface AppArmorPaths {
  /** "Y" when the LSM is enabled (Linux security/apparmor/lsm.c). */
  enabledFile: string;
  /** securityfs' apparmor directory: without it nothing can be loaded or listed. */
  securityfsDir: string;
  /** One "name (mode)" line per loaded profile. */
  profilesFile: string;
}

const HOST_APPARMOR_PATHS: AppArmorPaths = {
  enabledFile: '/sys/module/apparmor/parameters/enabled',
  securityfsDir: '/sys/kernel/security/apparmor',
  profilesFile: '/sys/kernel/security/apparmor/profiles',
};

export interface AppArmorState {
  enabled: boolean;
  /** Why not, or what was found: for `critter check`, Status and the log. */
  detail: string;
}

/** Enabled means the module says Y and securityfs is mounted (containerd pkg/apparmor hostSupports). */
export async function detectAppArmor(paths: AppArmorPaths = HOST_APPARMOR_PATHS): Promise<AppArmorState> {
  const flag = (await readFile(paths.enabledFile, 'utf8').catch(() => undefined))?.trim();
  if (flag === undefined) return { enabled: false, detail: 'not enabled on this host (the kernel has no AppArmor module)' };
  if (flag !== 'Y') return { enabled: false, detail: `not enabled on this host (${paths.enabledFile} is ${JSON.stringify(flag)})` };
  if (!(await access(paths.securityfsDir).then(() => true, () => false))) {
    return { enabled: false, detail: `enabled in the kernel but ${paths.securityfsDir} is absent (securityfs not mounted)` };
  }
  return { enabled: true, detail: 'enabled' };
}

/** Profile names of a profiles file: "name (enforce)" lines; a name may itself hold spaces. */
export function parseLoadedProfiles(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const at = line.lastIndexOf(' (');
    const name = at > 0 ? line.slice(0, at) : line.trim();
    if (name !== '') out.add(name);
  }
  return out;
}

/** The loaded profiles; an unreadable file (no securityfs, no permission) is none. */
export async function loadedProfiles(paths: AppArmorPaths = HOST_APPARMOR_PATHS): Promise<Set<string>> {
  return parseLoadedProfiles(await readFile(paths.profilesFile, 'utf8').catch(() => ''));
}

export interface ProfileLoaderDeps {
  paths?: AppArmorPaths;
  /** `apparmor_parser`, looked up on PATH (and sbin dirs) unless absolute. */
  parser?: string;
  templatePath?: string;
  policyDir?: string;
  /** /proc/self/attr/current, read for the daemon's own profile. */
  currentAttr?: string;
  timeoutMs?: number;
}

/**
 * Loads a profile rendered from critter's template unless it is loaded already. Calls are
 * serialised, so a start-up load and a CreateContainer retry never run the parser twice at once.
 */
export class AppArmorProfileLoader {
  #deps: ProfileLoaderDeps;
  #running: Promise<unknown> = Promise.resolve();

  constructor(deps: ProfileLoaderDeps = {}) {
    this.#deps = deps;
  }

  /**
   * Resolves 'present' or 'loaded'.
   * @throws FailedPreconditionError naming the profile: no parser, a parser error (its stderr, bounded), or still not listed after loading
   */
  ensureLoaded(op: Op, name: string): Promise<'present' | 'loaded'> {
    const next = this.#running.then(() => this.#ensure(op, name));
    this.#running = next.catch(() => undefined);
    return next;
  }

  async #ensure(op: Op, name: string): Promise<'present' | 'loaded'> {
    const paths = this.#deps.paths ?? HOST_APPARMOR_PATHS;
    if ((await loadedProfiles(paths)).has(name)) return 'present';
    const what = `AppArmor profile ${quoteBounded(name)}`;
    const wanted = this.#deps.parser ?? 'apparmor_parser';
    const parser = await findExecutable(wanted);
    if (parser === undefined) {
      throw new FailedPreconditionError(`cannot load ${what}: ${wanted} not found (Debian package apparmor)`);
    }
    const templatePath = this.#deps.templatePath ?? PROFILE_TEMPLATE_PATH;
    let template: string;
    try {
      template = await readFile(templatePath, 'utf8');
    } catch (err) {
      throw new FailedPreconditionError(`cannot load ${what}: template ${templatePath} unreadable`, { cause: err });
    }
    const params = await hostProfileParams(name, this.#deps.policyDir ?? APPARMOR_POLICY_DIR, this.#deps.currentAttr);
    const profile = renderProfile(template, params);
    try {
      // The profile goes on stdin: no temporary file to clean up or to race on.
      await run(parser, ['-Kr'], { input: profile, signal: op.signal, timeoutMs: this.#deps.timeoutMs ?? 60_000 });
    } catch (err) {
      throw new FailedPreconditionError(`cannot load ${what} with ${parser}: ${quoteBounded(describeError(err))}`, { cause: err });
    }
    if (!(await loadedProfiles(paths)).has(name)) {
      throw new FailedPreconditionError(`${what} is not listed in ${paths.profilesFile} after ${parser} -Kr succeeded`);
    }
    op.log.info({ profile: name, parser }, 'AppArmor default profile loaded');
    return 'loaded';
  }
}
