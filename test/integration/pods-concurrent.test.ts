/**
 * Regression: on a fresh daemon, concurrent RunPodSandbox calls (what a kubelet does at
 * node start) each saw the namespace directory unmounted and bind-mounted it, stacking
 * mounts; pods pinned under the lower one were then hidden and cleanup failed with EBUSY.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon } from './helpers/daemon.ts';

async function mountCount(point: string): Promise<number> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter((l) => l.split(' ')[4] === point).length;
}

test('concurrent RunPodSandbox on a fresh daemon mounts each namespace directory once', async () => {
  const d = await startDaemon();
  try {
    const pod = (i: number) => ({
      config: {
        metadata: { name: `c${i}`, namespace: 'concurrent', uid: `uid-c${i}`, attempt: 0 },
        linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } },
      },
    });
    const ids = (await Promise.all([0, 1, 2, 3, 4, 5].map((i) => d.client.call('RunPodSandbox', pod(i))))).map((r) => r.pod_sandbox_id as string);
    assert.equal(await mountCount(join(d.dirs.runRoot, 'ipcns')), 1, 'one private mount of the ipc namespace dir');
    for (const id of ids) {
      const s = await d.client.call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
      assert.equal(s.status.state, 0 /* READY */);
    }
    for (const id of ids) await d.client.call('RemovePodSandbox', { pod_sandbox_id: id });
  } finally {
    await d.stop();
  }
});
