/** The Prometheus listener: text format, per-RPC counts and latency, process metrics. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';

let d: RunningDaemon;
before(async () => {
  d = await startDaemon();
});
after(async () => {
  await d?.stop();
});

async function scrape(): Promise<string> {
  const res = await fetch(d.metricsUrl());
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  return res.text();
}

function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('/metrics parses as Prometheus text and counts the calls made, by code', async () => {
  const before = sample(await scrape(), 'critter_rpc_requests_total', 'rpc="Version",code="OK"');
  for (let i = 0; i < 5; i++) await d.client.call('Version', {});
  await d.client.call('CheckpointPod', {}).catch(() => undefined);
  const text = await scrape();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+|NaN|\+Inf$/, line);
  }
  assert.equal(sample(text, 'critter_rpc_requests_total', 'rpc="Version",code="OK"') - before, 5);
  assert.ok(sample(text, 'critter_rpc_requests_total', 'rpc="CheckpointPod",code="INVALID_ARGUMENT"') >= 1);
  assert.ok(sample(text, 'critter_rpc_duration_seconds_count', 'rpc="Version"') >= 5);
  assert.match(text, /^critter_process_resident_memory_bytes \d+/m);
});

test('/metrics answers 404 elsewhere and listens on loopback only', async () => {
  const url = new URL(d.metricsUrl());
  assert.equal(url.hostname, '127.0.0.1');
  assert.equal((await fetch(new URL('/other', url))).status, 404);
});
