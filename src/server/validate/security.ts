/**
 * Security contexts at pod and container level: namespace modes, seccomp and AppArmor
 * profiles, SELinux labels, users, capabilities, masked and read-only paths.
 */
import type { NamespaceOption__Output } from '../../generated/cri/runtime/v1/NamespaceOption.ts';
import type { SecurityProfile__Output } from '../../generated/cri/runtime/v1/SecurityProfile.ts';
import type { SELinuxOption__Output } from '../../generated/cri/runtime/v1/SELinuxOption.ts';
import type { Int64Value__Output } from '../../generated/cri/runtime/v1/Int64Value.ts';
import type { LinuxSandboxSecurityContext__Output } from '../../generated/cri/runtime/v1/LinuxSandboxSecurityContext.ts';
import type { LinuxContainerSecurityContext__Output } from '../../generated/cri/runtime/v1/LinuxContainerSecurityContext.ts';
import { at, invalid } from './field.ts';
import { checkEnum, ENUMS } from './enums.ts';
import { checkAbsolutePath } from './paths.ts';
import { int64 } from './resources.ts';
import { checkId, checkLine, MAX_NAME, MAX_PATH } from './text.ts';
import { checkUserNamespace } from './userns.ts';

const { NamespaceMode: M, ProfileType, SupplementalGroupsPolicy } = ENUMS;
/** The uid/gid range of Linux, without (uid_t)-1, which means "unchanged" to setresuid(2). */
const MAX_ID = 4294967294n;

/**
 * Which modes each level may ask for: TARGET (another container's PID namespace) only
 * exists for a container's pid; network and IPC are the pod's or the node's.
 */
function checkNamespaceOptions(path: string, o: NamespaceOption__Output | null, level: 'pod' | 'container'): void {
  if (!o) return;
  const podOrNode = [M.POD, M.NODE];
  checkEnum(at(path, 'network'), o.network, M, podOrNode);
  checkEnum(at(path, 'ipc'), o.ipc, M, podOrNode);
  checkEnum(at(path, 'pid'), o.pid, M, level === 'pod' ? [M.POD, M.CONTAINER, M.NODE] : [M.POD, M.CONTAINER, M.NODE, M.TARGET]);
  if (o.pid === M.TARGET) checkId(at(path, 'target_id'), o.target_id);
  else if (o.target_id !== '') throw invalid(at(path, 'target_id'), o.target_id, 'may only be set when pid is TARGET');
  checkUserNamespace(at(path, 'userns_options'), o.userns_options);
}

/** seccomp's localhost_ref is a host file we read, apparmor's a profile name. */
function checkProfile(path: string, p: SecurityProfile__Output | null, kind: 'seccomp' | 'apparmor'): void {
  if (!p) return;
  checkEnum(at(path, 'profile_type'), p.profile_type, ProfileType);
  if (kind === 'seccomp') checkAbsolutePath(at(path, 'localhost_ref'), p.localhost_ref);
  else checkLine(at(path, 'localhost_ref'), p.localhost_ref, MAX_NAME);
}

function checkSelinux(path: string, s: SELinuxOption__Output | null): void {
  if (!s) return;
  for (const f of ['user', 'role', 'type', 'level'] as const) checkLine(at(path, f), s[f], MAX_NAME);
}

function checkUserId(path: string, v: Int64Value__Output | null): void {
  if (!v) return;
  const n = int64(at(path, 'value'), v.value);
  if (n < 0n || n > MAX_ID) throw invalid(at(path, 'value'), v.value, `must be in 0..${MAX_ID}`);
}

function checkGroups(path: string, groups: readonly string[]): void {
  for (const [i, g] of groups.entries()) {
    const n = int64(at(path, i), g);
    if (n < 0n || n > MAX_ID) throw invalid(at(path, i), g, `must be in 0..${MAX_ID}`);
  }
}

type CommonContext = Pick<LinuxSandboxSecurityContext__Output, 'namespace_options' | 'selinux_options' | 'run_as_user' | 'run_as_group' | 'supplemental_groups' | 'supplemental_groups_policy' | 'seccomp' | 'apparmor' | 'seccomp_profile_path'>;

function checkCommon(path: string, sc: CommonContext, level: 'pod' | 'container'): void {
  checkNamespaceOptions(at(path, 'namespace_options'), sc.namespace_options, level);
  checkSelinux(at(path, 'selinux_options'), sc.selinux_options);
  checkUserId(at(path, 'run_as_user'), sc.run_as_user);
  checkUserId(at(path, 'run_as_group'), sc.run_as_group);
  checkGroups(at(path, 'supplemental_groups'), sc.supplemental_groups);
  checkEnum(at(path, 'supplemental_groups_policy'), sc.supplemental_groups_policy, SupplementalGroupsPolicy);
  checkProfile(at(path, 'seccomp'), sc.seccomp, 'seccomp');
  checkProfile(at(path, 'apparmor'), sc.apparmor, 'apparmor');
  checkLine(at(path, 'seccomp_profile_path'), sc.seccomp_profile_path, MAX_PATH);
}

export function checkPodSecurity(path: string, sc: LinuxSandboxSecurityContext__Output | null): void {
  if (sc) checkCommon(path, sc, 'pod');
}

export function checkContainerSecurity(path: string, sc: LinuxContainerSecurityContext__Output | null): void {
  if (!sc) return;
  checkCommon(path, sc, 'container');
  checkLine(at(path, 'run_as_username'), sc.run_as_username, MAX_NAME);
  checkLine(at(path, 'apparmor_profile'), sc.apparmor_profile, MAX_PATH);
  const caps = sc.capabilities;
  if (caps) {
    for (const f of ['add_capabilities', 'drop_capabilities', 'add_ambient_capabilities'] as const) {
      for (const [i, c] of caps[f].entries()) checkLine(at(at(at(path, 'capabilities'), f), i), c, 64);
    }
  }
  for (const f of ['masked_paths', 'readonly_paths'] as const) {
    for (const [i, p] of sc[f].entries()) checkAbsolutePath(at(at(path, f), i), p, { required: true });
  }
}
