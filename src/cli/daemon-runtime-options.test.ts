import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { runAllowFailure } from '../lib/exec.ts';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from './daemon-runtime-options.ts';

const repoFile = (path: string): Promise<string> => readFile(new URL(`../../../${path}`, import.meta.url), 'utf8');

/** The node options on a command line, between the node binary and the script. */
function nodeFlagsOf(commandLine: string): string[] {
  const words = commandLine.trim().split(/\s+/);
  const node = words.findIndex((w) => w === 'node' || w.endsWith('/node'));
  const script = words.findIndex((w) => w.endsWith('main.js'));
  assert.ok(node >= 0 && script > node, `no "node … main.js" in: ${commandLine}`);
  return words.slice(node + 1, script);
}

test('DAEMON_NODE_FLAGS behaviour: scripts/run-daemon.sh starts node with exactly these flags and environment', async () => {
  const script = await repoFile('scripts/run-daemon.sh');
  const exec = script.split('\n').find((l) => /^exec\b/.test(l));
  assert.ok(exec, 'run-daemon.sh has no exec line');
  assert.deepEqual(nodeFlagsOf(exec), [...DAEMON_NODE_FLAGS]);
  const exported = Object.fromEntries([...script.matchAll(/^export (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  assert.deepEqual(exported, { ...DAEMON_ENV });
});

test('DAEMON_NODE_FLAGS behaviour: the systemd unit starts node with exactly these flags and environment', async () => {
  const unit = await repoFile('deploy/systemd/critter.service');
  const exec = unit.split('\n').find((l) => l.startsWith('ExecStart='));
  assert.ok(exec, 'the unit has no ExecStart line');
  assert.deepEqual(nodeFlagsOf(exec.slice('ExecStart='.length)), [...DAEMON_NODE_FLAGS]);
  const env = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
  assert.deepEqual(env, { ...DAEMON_ENV });
});

test('DAEMON_NODE_FLAGS behaviour: node starts with them (it exits 9 on an unknown option)', async () => {
  const r = await runAllowFailure(process.execPath, [...DAEMON_NODE_FLAGS, '-e', '0'], { timeoutMs: 10_000, env: { ...process.env, ...DAEMON_ENV } });
  assert.equal(r.exitCode, 0, r.stderr);
});
