/**
 * OOM detection (cri-api.md §4 item 16: reason must be exactly "OOMKilled"). The
 * container's memory cgroup is found from /proc/<pid>/cgroup right after create, and
 * after the container exits its OOM-kill counter is read: cgroup v1 `memory.oom_control`
 * (`oom_kill N`, Linux 4.13+) or v2 `memory.events` (`oom_kill N`). runc removes the cgroup
 * only on delete, so it is still there when the exit is handled.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface OomDetector {
  /** The memory cgroup dir of a live process; '' when none is found. */
  memoryCgroupOf(pid: number): Promise<string>;
  /** True when the kernel OOM-killed a process in that cgroup. */
  wasOomKilled(memoryCgroupDir: string): Promise<boolean>;
}

/** Picks the memory cgroup path from /proc/<pid>/cgroup text. */
export function memoryCgroupFrom(procCgroup: string, v2Root: string | undefined, cgroupRoot = '/sys/fs/cgroup'): string {
  for (const line of procCgroup.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers !== undefined && path !== undefined && controllers.split(',').includes('memory')) return join(cgroupRoot, 'memory', path);
  }
  if (v2Root === undefined) return '';
  const unified = /^0::(.*)$/m.exec(procCgroup);
  return unified?.[1] !== undefined ? join(v2Root, unified[1]) : '';
}

/** `oom_kill N` from memory.oom_control or memory.events. */
export function oomKillCount(text: string): number {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

export class CgroupOomDetector implements OomDetector {
  async memoryCgroupOf(pid: number): Promise<string> {
    const text = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    const v2 = await access('/sys/fs/cgroup/cgroup.controllers').then(() => '/sys/fs/cgroup', () => undefined);
    return memoryCgroupFrom(text, v2);
  }

  async wasOomKilled(dir: string): Promise<boolean> {
    if (dir === '') return false;
    for (const file of ['memory.events', 'memory.oom_control']) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => undefined);
      if (text !== undefined) return oomKillCount(text) > 0;
    }
    return false;
  }
}
