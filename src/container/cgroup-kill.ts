/**
 * A container without its own PID namespace (pod-shared with the infra process, or the
 * host's) does not take its processes along when its init exits: the kernel only kills a
 * PID namespace's members when that namespace's init dies. What the container started is
 * left running in its cgroup, outliving StopContainer (issue 12 class 5). containerd's shim
 * kills every process left in the container's cgroup once init exits; so does this, from
 * the cgroup's `cgroup.procs` (the same file in v1 controller dirs and in v2).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Rounds of read-and-kill: a process may fork between the read and its kill. */
const MAX_ROUNDS = 20;

export interface CgroupKillDeps {
  kill: (pid: number, signal: NodeJS.Signals) => void;
}

const realKill: CgroupKillDeps = { kill: (pid, signal) => process.kill(pid, signal) };

/** The pids in `cgroup.procs` text. */
export function parseCgroupProcs(text: string): number[] {
  return text.split('\n').filter((l) => /^\d+$/.test(l)).map(Number).filter((p) => p > 0);
}

/** SIGKILLs every process in the cgroup `dir` until none is left (or MAX_ROUNDS). Returns how many were signalled. */
export async function killCgroupProcesses(dir: string, deps: CgroupKillDeps = realKill): Promise<number> {
  if (dir === '') return 0;
  // cgroup v2 (5.14+) kills the whole subtree atomically, forks included.
  await writeFile(join(dir, 'cgroup.kill'), '1').catch(() => undefined);
  let signalled = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    const pids = parseCgroupProcs(text);
    if (pids.length === 0) return signalled;
    for (const pid of pids) {
      try {
        deps.kill(pid, 'SIGKILL');
        signalled++;
      } catch {
        // already gone
      }
    }
    // Killed processes leave cgroup.procs once they are reaped; yield so that happens.
    await new Promise((r) => setImmediate(r));
  }
  return signalled;
}

/** True when the bundle's spec joins a PID namespace (the pod's, a target's) or has none of its own (the host's). */
export async function sharesPidNamespace(bundle: string): Promise<boolean> {
  try {
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { linux?: { namespaces?: Array<{ type: string; path?: string }> } };
    const pid = spec.linux?.namespaces?.find((n) => n.type === 'pid');
    return pid === undefined || (pid.path ?? '') !== '';
  } catch {
    return false;
  }
}
