/** `critter check` and the daemon's start-up checks: hard requirements stop it, soft ones show in Status. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, makeDirs, startDaemon } from './helpers/daemon.ts';

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('critter check prints every prerequisite and exits 0 on this host', async () => {
  const dirs = await makeDirs();
  try {
    await writeFile(dirs.configFile, '');
    const { code, stdout } = await runCli(['check', '--config', dirs.configFile]);
    assert.equal(code, 0, stdout);
    for (const name of ['runtime runc', 'conmon', 'overlayfs', 'cgroups', 'CNI plugins', 'iptables', 'seccomp profile', 'user namespaces']) assert.match(stdout, new RegExp(`^${name}\\s+ok`, 'm'));
  } finally {
    await rm(dirs.base, { recursive: true, force: true });
  }
});

test('critter check exits 1 naming a missing hard requirement and its Debian package', async () => {
  const dirs = await makeDirs();
  try {
    await writeFile(dirs.configFile, 'runtime:\n  conmon_path: /nonexistent/conmon\n');
    const { code, stdout } = await runCli(['check', '--config', dirs.configFile]);
    assert.equal(code, 1);
    assert.match(stdout, /^conmon\s+MISSING\s+\/nonexistent\/conmon not found\s+conmon$/m);
  } finally {
    await rm(dirs.base, { recursive: true, force: true });
  }
});

test('the daemon refuses to start without a hard requirement, in one line naming it', async () => {
  const dirs = await makeDirs();
  try {
    await writeFile(dirs.configFile, 'runtime:\n  conmon_path: /nonexistent/conmon\n');
    const { code, stderr } = await runCli(['daemon', '--config', dirs.configFile, '--socket', dirs.socket, '--root', dirs.root, '--run-root', dirs.runRoot, '--metrics-port', '0']);
    assert.equal(code, 1);
    const line = stderr.split('\n').find((l) => l.startsWith('critter: '));
    assert.ok(line, stderr);
    assert.match(line, /missing host prerequisites: conmon \(\/nonexistent\/conmon not found; Debian package conmon\)/);
  } finally {
    await rm(dirs.base, { recursive: true, force: true });
  }
});

test('a missing soft requirement shows as a false HostPrerequisites condition in Status', async () => {
  const dirs = await makeDirs();
  const emptyPlugins = join(dirs.base, 'no-plugins');
  await mkdir(emptyPlugins);
  const d = await startDaemon({ dirs, extraArgs: ['--cni-plugin-dir', emptyPlugins] });
  try {
    const s = await d.client.call('Status', {});
    const cond = (s.status.conditions as { type: string; status: boolean; reason: string; message: string }[]).find((c) => c.type === 'HostPrerequisites');
    assert.equal(cond?.status, false);
    assert.equal(cond?.reason, 'OptionalPrerequisitesMissing');
    assert.match(cond.message, /CNI plugins: missing bridge, host-local, loopback, portmap .*containernetworking-plugins/);
    const runtime = (s.status.conditions as { type: string; status: boolean }[]).find((c) => c.type === 'RuntimeReady');
    assert.equal(runtime?.status, true);
  } finally {
    await d.stop();
  }
});
