/** Which cgroup controllers the OCI runtime can use on this host (v1 hierarchies or the v2 root). */
import { readFile } from 'node:fs/promises';

/**
 * cgroup v1 controllers the runtime can use: those attached to a v1 hierarchy (column 2 of
 * /proc/cgroups is non-zero). On a hybrid host a controller can be enabled but attached
 * only to the unified tree (hugetlb here), where runc's v1 driver cannot reach it.
 */
export function parseV1Controllers(procCgroups: string): string[] {
  const out: string[] = [];
  for (const line of procCgroups.split('\n')) {
    if (line.startsWith('#')) continue;
    const [name, hierarchy, , enabled] = line.trim().split(/\s+/);
    if (name && hierarchy !== undefined && hierarchy !== '0' && enabled === '1') out.push(name);
  }
  return out;
}

export async function detectCgroupControllers(version: 1 | 2): Promise<string[]> {
  if (version === 1) return parseV1Controllers(await readFile('/proc/cgroups', 'utf8'));
  // The root's list is what runc can enable down the path it creates.
  return (await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8')).trim().split(/\s+/).filter((c) => c !== '');
}
