/**
 * A pod's network counters, read from its network namespace. /proc/<pid>/net/dev shows
 * the counters of that process's netns, so a process known to be in the pod's netns (the
 * infra process or any container) gives them without a fork; the pid is trusted only
 * when /proc/<pid>/ns/net is the same nsfs inode as the pod's pinned netns file (a pid can
 * be reused). With no such process, `nsenter --net=<file> cat /proc/net/dev` reads them.
 */
import { readFile, stat } from 'node:fs/promises';
import { run } from '../lib/exec.ts';

export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/** Parses /proc/net/dev (bytes, packets, errors, drops each way); `lo` is left out (kubelet's summary ignores it too). */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === 'lo' || f.length < 16) continue;
    // Receive: bytes packets errs drop …; transmit (from field 8): bytes packets errs drop ….
    out.push({ name, rxBytes: f[0]!, rxPackets: f[1]!, rxErrors: f[2]!, rxDropped: f[3]!, txBytes: f[8]!, txPackets: f[9]!, txErrors: f[10]!, txDropped: f[11]! });
  }
  return out;
}

/** The interface the kubelet reports as default: the CNI one (`eth0`), else the first. */
export function defaultInterface(interfaces: readonly InterfaceCounters[]): InterfaceCounters | undefined {
  return interfaces.find((i) => i.name === 'eth0') ?? interfaces[0];
}

async function sameInode(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)]);
  return sa !== undefined && sb !== undefined && sa.ino === sb.ino && sa.dev === sb.dev;
}

/** Counters of the netns pinned at `netnsPath`; undefined when it is gone. */
export async function readNetnsCounters(netnsPath: string, candidatePids: readonly number[], signal: AbortSignal): Promise<InterfaceCounters[] | undefined> {
  for (const pid of candidatePids) {
    if (pid <= 0 || !(await sameInode(`/proc/${pid}/ns/net`, netnsPath))) continue;
    const text = await readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => undefined);
    if (text !== undefined) return parseNetDev(text);
  }
  const res = await run('nsenter', [`--net=${netnsPath}`, 'cat', '/proc/net/dev'], { signal, timeoutMs: 5000 }).catch(() => undefined);
  return res === undefined ? undefined : parseNetDev(res.stdout);
}
