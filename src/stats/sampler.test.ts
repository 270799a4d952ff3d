import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { StatsSampler } from './sampler.ts';

test('a stats call during the sampler\'s own layer walk gets that walk\'s result, not "no layer"', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sampler-'));
  try {
    await writeFile(join(dir, 'f'), 'x'.repeat(5000));
    const sampler = new StatsSampler({
      targets: { containers: () => [], pods: () => [] }, mounts: { v1: new Map(), v2Root: undefined }, periodMs: 10_000,
      log: pino({ level: 'silent' }), nowNs: () => 1n,
    });
    const target = { id: 'c1', podId: 'p1', running: true, pid: 0, memoryCgroupDir: '', writableLayerDir: dir };
    const first = sampler.walkLayer(target);
    const second = sampler.walkLayer(target);
    const [a, b] = await Promise.all([first, second]);
    assert.equal(b, a);
    assert.ok(b.bytes >= 5000, `walked ${b.bytes} bytes`);
    assert.equal(sampler.disk('c1'), a);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
