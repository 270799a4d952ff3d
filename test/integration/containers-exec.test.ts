/**
 * ExecSync at its limits through gRPC (issue 5 item 5; cri-api.md §4 item 27): the output
 * caps as a kubelet-sized client (16 MiB receive limit) sees them, the timeout killing the
 * command, and a long run of probes leaving nothing behind in the daemon, the container or
 * the run directory. `CRITTER_TEST_EXEC_PROBES` overrides the number of probes (1000).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { EXEC_SYNC_MAX_OUTPUT, EXEC_SYNC_MAX_RESPONSE_OUTPUT } from '../../src/oci/runtime.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const HOST_NS = { network: 2, pid: 1, ipc: 0 };
const MiB = 1024 * 1024;
const PROBES = Number(process.env['CRITTER_TEST_EXEC_PROBES'] ?? 1000);

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let logDir: string;
let pod: { id: string; config: Any };
let ctr = '';

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  logDir = await mkdtemp(join(tmpdir(), 'critter-ctr-exec-'));
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
  const config = { metadata: { name: 'exec', namespace: 'ctr-exec', uid: 'uid-exec', attempt: 0 }, log_directory: logDir, linux: { security_context: { namespace_options: HOST_NS } } };
  pod = { id: (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string, config };
  const cconfig = { metadata: { name: 'target', attempt: 0 }, image: { image: imgs.busybox.reference }, command: ['sh', '-c', 'while true; do sleep 1; done'], log_path: 'target.log', linux: { security_context: { namespace_options: HOST_NS } } };
  ctr = (await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: cconfig, sandbox_config: pod.config })).container_id as string;
  await d.client.call('StartContainer', { container_id: ctr });
});

after(async () => {
  if (d) {
    for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    await d.stop();
  }
  await registry?.stop();
  if (logDir) await rm(logDir, { recursive: true, force: true });
});

const exec = (cmd: string[], timeout = 0): Promise<Any> => d.client.call('ExecSync', { container_id: ctr, cmd, timeout }, { deadlineMs: 120_000 });
const sh = (script: string): string[] => ['sh', '-c', script];

/**
 * Processes in the container other than its pid 1 (a shell loop, which reaps orphans as an
 * init would: orphans of an exec are reparented to the container's pid 1, not to conmon),
 * that loop's `sleep 1` and the `ps` asking. Zombies show as `[name]`.
 */
async function strays(): Promise<string[]> {
  const out = (await exec(['ps', '-o', 'pid,ppid,args'])).stdout.toString() as string;
  return out.split('\n').slice(1).map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 2 && f[0] !== '1' && !(f[1] === '1' && f.slice(2).join(' ') === 'sleep 1') && f.slice(2).join(' ') !== 'ps -o pid,ppid,args')
    .map((f) => f.join(' '));
}

test('ExecSync caps output at the 16 MiB gRPC message a kubelet accepts: 17 MiB on stdout comes back capped, without an error', async () => {
  assert.equal(EXEC_SYNC_MAX_OUTPUT, 16 * MiB);
  const r = await exec(sh(`head -c ${17 * MiB} /dev/zero | tr "\\0" o; echo tail >&2`));
  assert.equal(r.exit_code, 0);
  assert.equal(r.stdout.length, EXEC_SYNC_MAX_RESPONSE_OUTPUT - 'tail\n'.length, 'stdout fills what stderr leaves of the response');
  assert.ok(r.stdout.every((b: number) => b === 0x6f));
  assert.equal(r.stderr.toString(), 'tail\n');
});

test('ExecSync with 16 MiB on stdout and 16 MiB on stderr answers within the message limit, sharing it between the streams', async () => {
  const r = await exec(sh(`head -c ${16 * MiB} /dev/zero | tr "\\0" o & head -c ${16 * MiB} /dev/zero | tr "\\0" e >&2; wait`));
  assert.equal(r.exit_code, 0);
  assert.equal(r.stdout.length + r.stderr.length, EXEC_SYNC_MAX_RESPONSE_OUTPUT);
  assert.equal(r.stdout.length, EXEC_SYNC_MAX_RESPONSE_OUTPUT / 2);
  assert.ok(r.stdout.every((b: number) => b === 0x6f) && r.stderr.every((b: number) => b === 0x65));
});

test('ExecSync timeout kills the command and what it started; nothing stays in the container', async () => {
  const t0 = Date.now();
  const r = await exec(sh('sleep 997 & sleep 998; echo not-reached'), 1);
  assert.ok(Date.now() - t0 < 5000, `returned after ${Date.now() - t0} ms`);
  assert.notEqual(r.exit_code, 0);
  assert.match(r.stderr.toString(), /timed out/);
  assert.doesNotMatch(r.stdout.toString(), /not-reached/);
  const deadline = Date.now() + 3000;
  let left = await strays();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 100));
    left = await strays();
  }
  assert.deepEqual(left, [], 'no process of the timed-out exec is left');
});

// Regression (upstream critest "execSync with timeout"): a bare command, not under a
// shell, outlived conmon's timeout because nothing killed it.
test('ExecSync timeout kills a bare command too', async () => {
  const r = await exec(['sleep', '4321'], 1);
  assert.notEqual(r.exit_code, 0);
  const deadline = Date.now() + 3000;
  let left = await strays();
  // Also no zombie `[sleep]`: killed after conmon exited, nobody would reap it.
  const isIt = (p: string): boolean => p.includes('4321') || p.includes('[sleep]');
  while (left.some(isIt) && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 100));
    left = await strays();
  }
  assert.deepEqual(left.filter(isIt), [], 'the timed-out sleep is gone, not even a zombie');
});

async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** Zombies whose parent is the daemon or a conmon. */
async function zombies(): Promise<string[]> {
  const out: string[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
    if (!m || m[2] !== 'Z') continue;
    const parentComm = await readFile(`/proc/${m[3]}/comm`, 'utf8').catch(() => '');
    if (Number(m[3]) === d.proc.pid || parentComm.trim() === 'conmon') out.push(`${p} ${m[1]} (parent ${m[3]})`);
  }
  return out;
}

test(`${PROBES} ExecSync probes leave no zombie, fd, temp dir or exit file behind`, async (t) => {
  const pid = d.proc.pid!;
  const execDir = join(d.dirs.runRoot, 'exec');
  const exitDir = join(d.dirs.runRoot, 'exits');
  const ls = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [] as string[])).sort();
  for (let i = 0; i < 5; i++) await exec(['true']);
  const fds0 = await fdCount(pid);
  const exits0 = await ls(exitDir);
  const t0 = performance.now();
  for (let i = 0; i < PROBES; i++) {
    const r = await exec(sh('echo ok'));
    assert.equal(r.stdout.toString(), 'ok\n');
  }
  const ms = performance.now() - t0;
  t.diagnostic(`${PROBES} probes in ${(ms / 1000).toFixed(1)} s (${(ms / PROBES).toFixed(1)} ms each); daemon fds ${fds0} → ${await fdCount(pid)}`);
  // The last session's pipes and conmon go asynchronously: wait for them, with a deadline.
  const deadline = Date.now() + 5000;
  while ((await fdCount(pid) > fds0 + 2 || (await zombies()).length > 0) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25));
  assert.ok(await fdCount(pid) <= fds0 + 2, `daemon fds ${fds0} → ${await fdCount(pid)}`);
  assert.deepEqual(await zombies(), []);
  assert.deepEqual(await ls(execDir), [], 'every session dir is removed');
  assert.deepEqual(await ls(exitDir), exits0, 'exec sessions write no exit file');
  assert.deepEqual(await strays(), []);
  assert.equal((await d.client.call('ContainerStatus', { container_id: ctr })).status.state, 1, 'still running');
});
