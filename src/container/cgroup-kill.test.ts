import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killCgroupProcesses, parseCgroupProcs, sharesPidNamespace } from './cgroup-kill.ts';

test('killCgroupProcesses() SIGKILLs every pid in cgroup.procs, again for ones forked meanwhile, until it is empty', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'critter-cgkill-'));
  try {
    const procs = new Set([101, 102]);
    // Synchronous, as the kernel's file is: the next read sees every kill and fork before it.
    const write = (): void => writeFileSync(join(dir, 'cgroup.procs'), [...procs].map((p) => `${p}\n`).join(''));
    write();
    const killed: string[] = [];
    let forked = false;
    const n = await killCgroupProcesses(dir, {
      kill: (pid, signal) => {
        killed.push(`${pid} ${signal}`);
        procs.delete(pid);
        // 102 forked 103 just before it died.
        if (pid === 102 && !forked) { forked = true; procs.add(103); }
        write();
      },
    });
    assert.deepEqual(killed, ['101 SIGKILL', '102 SIGKILL', '103 SIGKILL']);
    assert.equal(n, 3);
    assert.equal(await killCgroupProcesses('', { kill: () => assert.fail('no cgroup, no kill') }), 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('parseCgroupProcs() and sharesPidNamespace() read the kernel\'s and the spec\'s forms', async () => {
  assert.deepEqual(parseCgroupProcs('12\n34\n\n'), [12, 34]);
  const dir = await mkdtemp(join(tmpdir(), 'critter-cgkill-'));
  try {
    const spec = async (namespaces: unknown[]): Promise<boolean> => {
      await writeFile(join(dir, 'config.json'), JSON.stringify({ linux: { namespaces } }));
      return sharesPidNamespace(dir);
    };
    assert.equal(await spec([{ type: 'pid' }, { type: 'mount' }]), false, 'its own PID namespace');
    assert.equal(await spec([{ type: 'pid', path: '/proc/42/ns/pid' }]), true, 'the pod\'s');
    assert.equal(await spec([{ type: 'mount' }]), true, 'the host\'s');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
