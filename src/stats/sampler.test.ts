import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DEMAND_PERIODS, StatsSampler } from './sampler.ts';
import { StatsService } from './stats-service.ts';
import type { PodTarget } from './targets.ts';

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

/** A v2 cgroup tree in a temp dir, a controllable clock, and one container in it. */
async function fakeHost(...pods: PodTarget[]) {
  const root = await mkdtemp(join(tmpdir(), 'sampler-cg-'));
  const dir = join(root, 'pod1', 'c1');
  await mkdir(dir, { recursive: true });
  let now = 1_000_000_000_000n;
  const setCpu = (usec: number) => writeFile(join(dir, 'cpu.stat'), `usage_usec ${usec}\nuser_usec 0\nsystem_usec 0\n`);
  await setCpu(1000);
  await writeFile(join(dir, 'memory.current'), '4096\n');
  const target = { id: 'c1', podId: 'p1', running: true, pid: 0, memoryCgroupDir: dir, writableLayerDir: join(root, 'upper') };
  await mkdir(target.writableLayerDir);
  const sampler = new StatsSampler({
    targets: { containers: () => [target], pods: () => pods }, mounts: { v1: new Map(), v2Root: root }, periodMs: 10_000,
    log: pino({ level: 'silent' }), nowNs: () => now,
  });
  const service = new StatsService({ sampler, fsMountpoint: '/', layerDevice: undefined });
  return {
    root, sampler, service, target, setCpu, pods,
    advance: (ms: number) => { now += BigInt(ms) * 1_000_000n; },
    cachedCpu: () => sampler.cgroup('c:c1')?.cgroup.cpuUsageNs,
  };
}

test('the sampler reads a container nobody asked for once, and again only once a stats call asks for it', async () => {
  const h = await fakeHost();
  try {
    await h.sampler.tick();
    assert.equal(h.cachedCpu(), 1_000_000n, 'the first round gives every target its first reading');
    await h.setCpu(2000);
    h.advance(10_000);
    await h.sampler.tick();
    assert.equal(h.cachedCpu(), 1_000_000n, 'not asked for: not read again');
    const usage = await h.service.container(h.target);
    assert.equal(usage.cgroup?.cpuUsageNs, 2_000_000n, 'a call without a rate reads now');
    assert.equal(usage.nanoCores, 100_000, '1 ms of CPU over the 10 s since the first reading');
    await h.setCpu(7000);
    h.advance(10_000);
    await h.sampler.tick();
    assert.equal(h.cachedCpu(), 7_000_000n, 'asked for: sampled every period');
    assert.equal((await h.service.container(h.target)).nanoCores, 500_000, 'answered from the tick, over its window');
  } finally {
    await rm(h.root, { recursive: true, force: true });
  }
});

test('a container asked for long ago is left alone, and a call then reads it fresh rather than answering stale', async () => {
  const h = await fakeHost();
  try {
    await h.sampler.tick();
    await h.service.container(h.target);
    h.advance((DEMAND_PERIODS + 1) * 10_000);
    await h.setCpu(5000);
    await h.sampler.tick();
    assert.equal(h.cachedCpu(), 1_000_000n, 'demand lapsed: the tick does not read it');
    const usage = await h.service.container(h.target);
    assert.equal(usage.cgroup?.cpuUsageNs, 5_000_000n);
    assert.ok(usage.nanoCores !== undefined && usage.nanoCores > 0);
  } finally {
    await rm(h.root, { recursive: true, force: true });
  }
});

test('stats calls get usage readings; a metrics call gets the full reading and keeps ticks full', async () => {
  const h = await fakeHost();
  try {
    await h.sampler.tick();
    h.advance(1000);
    await h.service.container(h.target);
    assert.equal(h.sampler.cgroup('c:c1')?.scope, 'usage');
    h.advance(1000);
    await h.service.container(h.target, 'full');
    assert.equal(h.sampler.cgroup('c:c1')?.scope, 'full');
    h.advance(10_000);
    await h.service.container(h.target);
    await h.sampler.tick();
    assert.equal(h.sampler.cgroup('c:c1')?.scope, 'full', 'metrics asked within the demand window: still full');
  } finally {
    await rm(h.root, { recursive: true, force: true });
  }
});

test('a pod without a cgroup of its own is rated from new container readings, not from summing the same ones twice', async () => {
  const h = await fakeHost({ id: 'p1', cgroupfsParent: '', netnsPath: undefined, infraPid: 0 });
  try {
    await h.service.container(h.target);
    h.advance(1000);
    await h.setCpu(3000);
    await h.sampler.tick();
    assert.equal(h.sampler.rates.rate('c:c1'), 2_000_000);
    h.advance(100);
    const usage = await h.service.pod(h.pods[0]!, [h.target]);
    assert.equal(usage.nanoCores, 2_000_000, 'the pod\'s first reading already held the containers\' latest: their rate, not 0');
  } finally {
    await rm(h.root, { recursive: true, force: true });
  }
});
