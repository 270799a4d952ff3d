/**
 * critter's RuntimeDefault AppArmor profile (issue 12 class 5): the template shipped in the
 * project's `apparmor/` directory, rendered for this host as containerd renders
 * `cri-containerd.apparmor.d` (contrib/apparmor/template.go): includes only where the host
 * has them, and the daemon's own profile allowed to signal containers.
 */
import { access, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { InvalidArgumentError } from '../lib/errors.ts';
import { isValidProfileName, PROFILE_NAME_MAX } from '../lib/apparmor-name.ts';

/** The profile name RuntimeDefault means unless `runtime.apparmor_profile` says otherwise. */
export const DEFAULT_APPARMOR_PROFILE = 'critter-default';

/** The template in the project tree (dist/src/host/ → project root, as server/proto.ts finds proto/). */
export const PROFILE_TEMPLATE_PATH = fileURLToPath(new URL('../../../apparmor/critter-default.tmpl', import.meta.url));

/** Where the host's policy includes live (apparmor.d(5)). */
export const APPARMOR_POLICY_DIR = '/etc/apparmor.d';

export interface ProfileParams {
  name: string;
  /** The profile the daemon runs under (from /proc/self/attr/current), "unconfined" as a rule. */
  daemonProfile: string;
  /** The parser ships `abi/3.0`: pin it, since ABI 4's "network," no longer covers unix sockets. */
  hasAbi3: boolean;
  /** `tunables/global` exists; without it @{PROC} is defined here (containerd does the same). */
  hasTunables: boolean;
  /** `abstractions/base` exists. */
  hasBaseAbstraction: boolean;
}

/** `/proc/self/attr/current` → the profile name: "name (enforce)\n" → "name"; empty → unconfined. */
export function cleanProfileName(current: string): string {
  const name = current.replace(/\0/g, '').trim().split(' ')[0] ?? '';
  return name === '' ? 'unconfined' : name;
}

/** The template with every placeholder filled. @throws InvalidArgumentError for a bad name or a placeholder left over */
export function renderProfile(template: string, p: ProfileParams): string {
  for (const n of [p.name, p.daemonProfile]) {
    if (!isValidProfileName(n)) throw new InvalidArgumentError(`AppArmor profile name ${JSON.stringify(n.slice(0, PROFILE_NAME_MAX))} is not a valid profile name`);
  }
  const values: Record<string, string> = {
    abi: p.hasAbi3 ? 'abi <abi/3.0>,' : '',
    imports: p.hasTunables ? '#include <tunables/global>' : '@{PROC}=/proc/',
    inner_imports: p.hasBaseAbstraction ? '  #include <abstractions/base>' : '',
    name: p.name,
    daemon_profile: p.daemonProfile,
  };
  const out = template.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => {
    const v = values[key];
    if (v === undefined) throw new InvalidArgumentError(`AppArmor profile template has an unknown placeholder ${whole}`);
    return v;
  });
  return out;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/** The parameters for this host: which includes exist, which profile the daemon runs under. */
export async function hostProfileParams(name: string, policyDir = APPARMOR_POLICY_DIR, currentAttr = '/proc/self/attr/current'): Promise<ProfileParams> {
  const [hasAbi3, hasTunables, hasBaseAbstraction, current] = await Promise.all([
    exists(join(policyDir, 'abi/3.0')), exists(join(policyDir, 'tunables/global')), exists(join(policyDir, 'abstractions/base')),
    readFile(currentAttr, 'utf8').catch(() => ''),
  ]);
  return { name, daemonProfile: cleanProfileName(current), hasAbi3, hasTunables, hasBaseAbstraction };
}
