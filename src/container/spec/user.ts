/**
 * The container's uid, gid and supplementary groups (cri-api.md §4 item 11), resolved
 * against the image's /etc/passwd and /etc/group the way containerd does (pkg/oci WithUser,
 * WithAdditionalGIDs; internal/cri GenerateUserString). The result is also what
 * ContainerStatus.user.linux reports (CRI 1.31, SupplementalGroupsPolicy).
 */
import type { LinuxContainerSecurityContext__Output } from '../../generated/cri/runtime/v1/LinuxContainerSecurityContext.ts';
import { SupplementalGroupsPolicy } from '../../generated/cri/runtime/v1/SupplementalGroupsPolicy.ts';
import { InvalidArgumentError } from '../../lib/errors.ts';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface EffectiveUser {
  uid: number;
  gid: number;
  /** Sorted, deduplicated, and including the primary gid (as containerd and CRI-O report). */
  additionalGids: number[];
}

/** runc refuses ids above MaxInt32; containerd enforces the same bound. */
const MAX_ID = 2 ** 31 - 1;

function parseId(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : Number.POSITIVE_INFINITY;
}

function checkId(n: number, what: string, spec: string): number {
  if (n < 0 || n > MAX_ID) throw new InvalidArgumentError(`${what} in user ${JSON.stringify(spec)} is out of range 0..${MAX_ID}`);
  return n;
}

/** Lines of name:password:uid:gid:gecos:home:shell; malformed lines are skipped, like libc. */
export function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f[0] === undefined || f[0] === '' || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid });
  }
  return out;
}

/** Lines of name:password:gid:member,member. */
export function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = parseId(f[2] ?? '');
    if (f[0] === undefined || f[0] === '' || gid === undefined) continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    out.push({ name: f[0], gid, members });
  }
  return out;
}

/**
 * The user string in containerd's precedence: run_as_username, then run_as_user (presence of
 * the Int64Value wrapper matters: uid 0 is a real request), with `:gid` from run_as_group;
 * else the image's User verbatim. run_as_group without a user is an error ("runtime MUST
 * error", api.proto).
 */
export function userString(sc: LinuxContainerSecurityContext__Output | null, imageUser: string | undefined): string {
  const group = sc?.run_as_group ?? null;
  let user = '';
  if (sc !== null && sc.run_as_username !== '') user = sc.run_as_username;
  else if (sc?.run_as_user != null) user = sc.run_as_user.value;
  if (user === '') {
    if (group !== null) throw new InvalidArgumentError(`run_as_group ${group.value} is set without run_as_user or run_as_username`);
    return imageUser ?? '';
  }
  return group === null ? user : `${user}:${group.value}`;
}

interface Resolved {
  uid: number;
  gid: number;
  /** Login name used to find /etc/group memberships; undefined for an unknown numeric uid. */
  name: string | undefined;
}

function resolveUserPart(spec: string, part: string, passwd: PasswdEntry[]): Resolved {
  const numeric = parseId(part);
  if (numeric !== undefined) {
    const uid = checkId(numeric, 'uid', spec);
    const entry = passwd.find((p) => p.uid === uid);
    // An unknown numeric uid is fine: it runs with gid 0 (containerd WithUserID).
    return { uid, gid: entry?.gid ?? 0, name: entry?.name };
  }
  const entry = passwd.find((p) => p.name === part);
  if (entry === undefined) throw new InvalidArgumentError(`user ${JSON.stringify(part)} not found in the image's /etc/passwd`);
  return { uid: checkId(entry.uid, 'uid', spec), gid: checkId(entry.gid, 'gid', spec), name: entry.name };
}

function resolveGroupPart(spec: string, part: string, groups: GroupEntry[]): number {
  const numeric = parseId(part);
  if (numeric !== undefined) return checkId(numeric, 'gid', spec);
  const entry = groups.find((g) => g.name === part);
  if (entry === undefined) throw new InvalidArgumentError(`group ${JSON.stringify(part)} not found in the image's /etc/group`);
  return entry.gid;
}

function sortedUnique(ids: Iterable<number>): number[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

/**
 * Resolves "", "uid", "name", "uid:gid", "name:group" (and mixes) to ids, then the
 * supplementary groups: Merge (default) = the user's /etc/group memberships +
 * supplemental_groups; Strict = supplemental_groups only. The primary gid is always included.
 */
export function resolveUser(
  sc: LinuxContainerSecurityContext__Output | null,
  imageUser: string | undefined,
  etcPasswd: string | undefined,
  etcGroup: string | undefined,
): EffectiveUser {
  const spec = userString(sc, imageUser);
  const passwd = parsePasswd(etcPasswd);
  const groups = parseGroup(etcGroup);
  const parts = spec === '' ? ['0'] : spec.split(':');
  if (parts.length > 2 || parts[0] === '') throw new InvalidArgumentError(`invalid user ${JSON.stringify(spec)}`);
  const resolved = resolveUserPart(spec, parts[0] ?? '0', passwd);
  const gid = parts[1] === undefined || parts[1] === '' ? resolved.gid : resolveGroupPart(spec, parts[1], groups);

  const extra: number[] = [];
  for (const g of sc?.supplemental_groups ?? []) {
    const n = parseId(g);
    if (n === undefined) throw new InvalidArgumentError(`supplemental group ${g} is not a valid gid`);
    extra.push(checkId(n, 'supplemental group', g));
  }
  const policy = sc?.supplemental_groups_policy ?? SupplementalGroupsPolicy.Merge;
  if (policy !== SupplementalGroupsPolicy.Merge && policy !== SupplementalGroupsPolicy.Strict) {
    throw new InvalidArgumentError(`unknown supplemental_groups_policy ${String(policy)}`);
  }
  if (policy === SupplementalGroupsPolicy.Merge && resolved.name !== undefined) {
    const name = resolved.name;
    for (const g of groups) if (g.members.includes(name)) extra.push(g.gid);
  }
  return { uid: resolved.uid, gid, additionalGids: sortedUnique([gid, ...extra]) };
}
