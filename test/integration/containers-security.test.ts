/**
 * The security context, mounts, process and resources of a container as the container
 * itself sees them: each case runs a busybox command that prints its view (`id`,
 * /proc/self/status, /proc/mounts, cgroup files) and the test asserts what was printed
 * (issue 5 items 1 and 9; cri-api.md §4 items 11 and 19). Host-network pods, images from
 * a local registry.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { run, runAllowFailure } from '../../src/lib/exec.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';
import { mountsUnder, unmountAllUnder } from './helpers/mounts.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const RUNNING = 1;
const EXITED = 2;
const PRIVATE = 0;
const HOST_TO_CONTAINER = 1;
const BIDIRECTIONAL = 2;
const RUNTIME_DEFAULT = 0;
const UNCONFINED = 1;
const LOCALHOST = 2;
const HOST_NS = { network: 2, pid: 1, ipc: 0 };

/** containerd's default capability set (pkg/oci defaultUnixCaps), by kernel number. */
const CONTAINERD_DEFAULT_CAP_BITS = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];
const CAP_NET_ADMIN = 12;

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let work: string;
let pod: { id: string; config: Any };
let seq = 0;

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  work = await mkdtemp(join(tmpdir(), 'critter-ctr-sec-'));
  d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  for (const img of [imgs.busybox, imgs.configured]) await d.client.call('PullImage', { image: { image: img.reference } });
  const config = {
    metadata: { name: 'security', namespace: 'ctr-sec', uid: 'uid-security', attempt: 0 },
    log_directory: join(work, 'logs'),
    // Privileged containers need a privileged pod (cri-api.md §4 item 12).
    linux: { security_context: { namespace_options: HOST_NS, privileged: true } },
  };
  pod = { id: (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string, config };
});

after(async () => {
  if (d) {
    for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    await d.stop();
  }
  await registry?.stop();
  if (work) {
    await unmountAllUnder(work);
    await rm(work, { recursive: true, force: true });
  }
});

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

/** A container config; `sc` is merged into linux.security_context. */
function ctr(command: string[] | undefined, extra: Any = {}, sc: Any = {}, image = imgs.busybox.reference): Any {
  const name = `c${++seq}`;
  const { linux, ...rest } = extra;
  return {
    metadata: { name, attempt: 0 },
    image: { image },
    ...(command ? { command } : {}),
    log_path: `${name}.log`,
    linux: { ...(linux ?? {}), security_context: { namespace_options: HOST_NS, ...sc } },
    ...rest,
  };
}

async function create(config: Any): Promise<string> {
  return (await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config })).container_id as string;
}

async function status(id: string, verbose = false): Promise<Any> {
  const r = await d.client.call('ContainerStatus', { container_id: id, verbose });
  return verbose ? { ...r.status, info: JSON.parse(r.info.info as string) } : r.status;
}

async function waitExited(id: string): Promise<Any> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const s = await status(id);
    if (s.state === EXITED) return s;
    if (Date.now() > deadline) throw new Error(`container ${id} did not exit`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The content of a CRI log file, stdout and stderr interleaved as written. */
function logContent(text: string): string {
  return text.split('\n').filter(Boolean).map((l) => {
    const m = /^\S+ (?:stdout|stderr) ([FP]) (.*)$/.exec(l);
    assert.ok(m, `CRI log line: ${l}`);
    return m[1] === 'F' ? `${m[2]}\n` : m[2];
  }).join('');
}

/** Runs `config` to completion and returns what it printed and its final status. */
async function runToEnd(config: Any): Promise<{ out: string; status: Any }> {
  const id = await create(config);
  await d.client.call('StartContainer', { container_id: id });
  const s = await waitExited(id);
  const out = logContent(await readFile(s.log_path, 'utf8'));
  await d.client.call('RemoveContainer', { container_id: id });
  return { out, status: s };
}

const sh = (script: string): string[] => ['sh', '-c', script];
const statusField = (out: string, field: string): string => {
  const m = new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(out);
  assert.ok(m, `${field} in ${out}`);
  return m[1]!;
};
const capMask = (bits: number[]): bigint => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);
const capEff = (out: string): bigint => BigInt(`0x${statusField(out, 'CapEff')}`);
const mountOpts = (mounts: string, point: string): string[] => {
  const line = mounts.split('\n').reverse().find((l) => l.split(' ')[1] === point);
  assert.ok(line, `${point} in\n${mounts}`);
  return line.split(' ')[3]!.split(',');
};

test('run_as_user, run_as_group, run_as_username and supplemental groups (Merge, Strict) are what `id` shows and Status reports', async () => {
  const ids = sh('echo "$(id -u) $(id -g) $(id -G | tr " " "\\n" | sort -n | tr "\\n" " ")"');
  const cases: { sc: Any; want: string; uid: string; gid: string; groups: string[] }[] = [
    { sc: { run_as_user: { value: 1000 } }, want: '1000 1000 100 1000 ', uid: '1000', gid: '1000', groups: ['100', '1000'] },
    { sc: { run_as_user: { value: 1000 }, run_as_group: { value: 33 } }, want: '1000 33 33 100 ', uid: '1000', gid: '33', groups: ['33', '100'] },
    { sc: { run_as_username: 'www-data' }, want: '33 33 33 ', uid: '33', gid: '33', groups: ['33'] },
    { sc: { run_as_user: { value: 0 } }, want: '0 0 0 ', uid: '0', gid: '0', groups: ['0'] },
    { sc: { run_as_user: { value: 1000 }, supplemental_groups: ['1234'] }, want: '1000 1000 100 1000 1234 ', uid: '1000', gid: '1000', groups: ['100', '1000', '1234'] },
    { sc: { run_as_user: { value: 1000 }, supplemental_groups: ['1234'], supplemental_groups_policy: 1 }, want: '1000 1000 1000 1234 ', uid: '1000', gid: '1000', groups: ['1000', '1234'] },
  ];
  for (const c of cases) {
    const { out, status: s } = await runToEnd(ctr(ids, {}, c.sc));
    assert.equal(out, `${c.want}\n`, JSON.stringify(c.sc));
    assert.equal(s.user.linux.uid, c.uid, JSON.stringify(c.sc));
    assert.equal(s.user.linux.gid, c.gid, JSON.stringify(c.sc));
    assert.deepEqual([...s.user.linux.supplemental_groups].sort((a: string, b: string) => Number(a) - Number(b)), c.groups, JSON.stringify(c.sc));
  }
  await assert.rejects(create(ctr(ids, {}, { run_as_group: { value: 33 } })), grpcError(Code.INVALID_ARGUMENT, 'run_as_group'));
  await assert.rejects(create(ctr(ids, {}, { run_as_username: 'nosuchuser' })), grpcError(Code.INVALID_ARGUMENT, 'nosuchuser'));
});

test('capabilities: containerd\'s 14 by default, none after drop ALL, NET_ADMIN added, all when privileged', async () => {
  const showCaps = sh('grep Cap /proc/self/status');
  const host = await readFile('/proc/self/status', 'utf8');
  const cases: { sc: Any; want: bigint }[] = [
    { sc: {}, want: capMask(CONTAINERD_DEFAULT_CAP_BITS) },
    { sc: { capabilities: { drop_capabilities: ['ALL'] } }, want: 0n },
    { sc: { capabilities: { add_capabilities: ['NET_ADMIN'] } }, want: capMask([...CONTAINERD_DEFAULT_CAP_BITS, CAP_NET_ADMIN]) },
    { sc: { capabilities: { drop_capabilities: ['ALL'], add_capabilities: ['NET_ADMIN'] } }, want: capMask([CAP_NET_ADMIN]) },
    { sc: { privileged: true }, want: BigInt(`0x${statusField(host, 'CapBnd')}`) },
  ];
  for (const c of cases) {
    const { out } = await runToEnd(ctr(showCaps, {}, c.sc));
    assert.equal(capEff(out).toString(16), c.want.toString(16), `${JSON.stringify(c.sc)}\n${out}`);
    assert.equal(BigInt(`0x${statusField(out, 'CapBnd')}`).toString(16), c.want.toString(16), `bounding set ${JSON.stringify(c.sc)}`);
  }
});

test('seccomp: RuntimeDefault filters (mode 2); Unconfined and an absent profile do not (mode 0); a Localhost file that blocks mkdir gives EPERM', async () => {
  const mode = async (sc: Any): Promise<string> => statusField((await runToEnd(ctr(sh('grep Seccomp /proc/self/status'), {}, sc))).out, 'Seccomp');
  assert.equal(await mode({ seccomp: { profile_type: RUNTIME_DEFAULT } }), '2');
  assert.equal(await mode({ seccomp: { profile_type: UNCONFINED } }), '0');
  assert.equal(await mode({}), '0', 'absent profile = unconfined, containerd\'s default for direct CRI clients');
  assert.equal(await mode({ seccomp: { profile_type: RUNTIME_DEFAULT }, privileged: true }), '0', 'privileged is never filtered');

  const profile = join(work, 'no-mkdir.json');
  await writeFile(profile, JSON.stringify({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  }));
  const { out } = await runToEnd(ctr(sh('grep Seccomp: /proc/self/status; mkdir /tmp/blocked; echo "rc=$?"; touch /tmp/allowed && echo touched'), {}, { seccomp: { profile_type: LOCALHOST, localhost_ref: profile } }));
  assert.match(out, /^Seccomp:\s+2$/m);
  assert.match(out, /Operation not permitted/);
  assert.match(out, /^rc=1$/m);
  assert.match(out, /^touched$/m);
  await assert.rejects(create(ctr(['true'], {}, { seccomp: { profile_type: LOCALHOST, localhost_ref: join(work, 'absent.json') } })), grpcError(Code.NOT_FOUND, 'absent.json'));
  await assert.rejects(create(ctr(['true'], {}, { seccomp: { profile_type: LOCALHOST, localhost_ref: 'relative.json' } })), grpcError(Code.INVALID_ARGUMENT, 'absolute'));
});

/** The host enforces AppArmor as the daemon detects it (module flag Y and securityfs). */
async function hostHasAppArmor(): Promise<boolean> {
  const flag = await readFile('/sys/module/apparmor/parameters/enabled', 'utf8').catch(() => 'N');
  return flag.trim() === 'Y' && (await stat('/sys/kernel/security/apparmor').then(() => true, () => false));
}

test('apparmor: RuntimeDefault and unset confine with critter-default where the host has AppArmor, else nothing; Localhost profiles must be loaded', async () => {
  const label = async (sc: Any): Promise<string> => (await runToEnd(ctr(sh('cat /proc/self/attr/current 2>/dev/null || echo none'), {}, sc))).out.trim();
  const absent = { apparmor: { profile_type: LOCALHOST, localhost_ref: 'critter-test-absent' } };
  const containers = async (): Promise<number> => ((await d.client.call('ListContainers', {})).containers as Any[]).length;
  const before = await containers();
  if (await hostHasAppArmor()) {
    assert.match(await label({}), /^critter-default \(enforce\)$/);
    assert.match(await label({ apparmor: { profile_type: RUNTIME_DEFAULT }, apparmor_profile: 'runtime/default' }), /^critter-default /);
    assert.match(await label({ apparmor: { profile_type: UNCONFINED }, apparmor_profile: 'unconfined' }), /^unconfined/);
    assert.match(await label({ privileged: true }), /^unconfined/, 'privileged containers get no default profile');
    await assert.rejects(create(ctr(['true'], {}, absent)), grpcError(Code.FAILED_PRECONDITION, 'AppArmor profile "critter-test-absent" is not loaded'));
  } else {
    // What the host cannot enforce is not pretended: no profile, and a named one is refused.
    for (const sc of [{}, { apparmor: { profile_type: RUNTIME_DEFAULT }, apparmor_profile: 'runtime/default' }, { apparmor: { profile_type: UNCONFINED } }]) {
      const id = await create(ctr(['true'], {}, sc));
      const spec = JSON.parse(await readFile(join(d.dirs.runRoot, 'containers', id, 'config.json'), 'utf8')) as Any;
      assert.equal(spec.process.apparmorProfile, undefined);
      await d.client.call('RemoveContainer', { container_id: id });
    }
    await assert.rejects(create(ctr(['true'], {}, absent)), grpcError(Code.FAILED_PRECONDITION, 'AppArmor is not enabled on this host; cannot apply profile "critter-test-absent"'));
    await assert.rejects(create(ctr(['true'], {}, { apparmor_profile: 'localhost/critter-test-absent' })), grpcError(Code.FAILED_PRECONDITION, 'cannot apply profile "critter-test-absent"'));
    const s = await d.client.call('Status', {});
    const cond = (s.status.conditions as { type: string; message: string }[]).find((c) => c.type === 'HostPrerequisites');
    assert.match(cond!.message, /AppArmor: not enabled on this host/);
  }
  assert.equal(await containers(), before, 'a refused create left a container behind');
});

test('no_new_privs sets NoNewPrivs 1; masked and readonly paths are applied exactly as sent', async () => {
  const nnp = async (sc: Any): Promise<string> => statusField((await runToEnd(ctr(sh('grep NoNewPrivs /proc/self/status'), {}, sc))).out, 'NoNewPrivs');
  assert.equal(await nnp({ no_new_privs: true }), '1');
  assert.equal(await nnp({}), '0');

  // This kernel has no /proc/kcore; /proc/timer_list is in the kubelet's default list too.
  const script = sh('echo "timer_list=$(wc -c < /proc/timer_list)"; echo "acpi=$(ls /proc/acpi | wc -l)"; grep -E " /proc/(sys|bus|keys|timer_list|acpi) " /proc/mounts');
  const { out } = await runToEnd(ctr(script, {}, { masked_paths: ['/proc/timer_list', '/proc/acpi'], readonly_paths: ['/proc/sys'] }));
  assert.match(out, /^timer_list=0$/m, 'masked /proc/timer_list reads empty');
  assert.match(out, /^acpi=0$/m, 'masked directory /proc/acpi is empty');
  assert.ok(out.includes(' /proc/timer_list '), 'masked by a mount');
  assert.ok(!out.includes(' /proc/keys '), 'a default-masked path that was not sent is not masked');
  assert.ok(mountOpts(out, '/proc/sys').includes('ro'), `/proc/sys read-only:\n${out}`);
  assert.ok(!out.includes(' /proc/bus '), 'a readonly path that was not sent is not remounted');

  const id = await create(ctr(['true'], {}, { masked_paths: ['/proc/timer_list', '/proc/acpi'], readonly_paths: ['/proc/sys'] }));
  const spec = (await status(id, true)).info.runtimeSpec;
  assert.deepEqual(spec.linux.maskedPaths, ['/proc/timer_list', '/proc/acpi']);
  assert.deepEqual(spec.linux.readonlyPaths, ['/proc/sys']);
  await d.client.call('RemoveContainer', { container_id: id });
});

test('readonly_rootfs refuses writes to / but not to a mounted emptyDir; privileged mounts /sys read-write', async () => {
  const emptyDir = join(work, 'empty-dir');
  await mkdir(emptyDir);
  const { out } = await runToEnd(ctr(sh('touch /rootfile 2>&1; echo "root=$?"; echo hi > /data/f && echo "data=$?"; grep " / " /proc/mounts'), {
    mounts: [{ container_path: '/data', host_path: emptyDir }],
  }, { readonly_rootfs: true }));
  assert.match(out, /Read-only file system/);
  assert.match(out, /^root=1$/m);
  assert.match(out, /^data=0$/m);
  assert.equal(await readFile(join(emptyDir, 'f'), 'utf8'), 'hi\n');

  const sys = async (privileged: boolean): Promise<string[]> => mountOpts((await runToEnd(ctr(['cat', '/proc/mounts'], {}, { privileged }))).out, '/sys');
  assert.ok((await sys(true)).includes('rw'), 'privileged: /sys rw');
  assert.ok((await sys(false)).includes('ro'), 'unprivileged: /sys ro');
});

test('host dir mounts: read-write and readonly; PRIVATE does not see later host mounts, HOST_TO_CONTAINER (rslave) does', async () => {
  const dir = join(work, 'vol');
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'host-file'), 'from host\n');
  // The refused redirection is the shell's own complaint, on the shell's stderr whatever
  // the command's 2>&1: in a subshell with its stderr on stdout it stays in line order
  // (interleaved in the log, it once split the "ro=" line).
  const { out } = await runToEnd(ctr(sh('cat /rw/host-file; echo w > /rw/written; echo "rw=$?"; (echo w > /ro/x) 2>&1; echo "ro=$?"'), {
    mounts: [{ container_path: '/rw', host_path: dir }, { container_path: '/ro', host_path: dir, readonly: true }],
  }));
  assert.match(out, /^from host$/m);
  assert.match(out, /^rw=0$/m);
  assert.match(out, /Read-only file system/);
  assert.match(out, /^ro=1$/m);

  // Propagation needs the host side shared: bind the dir on itself and make it shared.
  await run('mount', ['--bind', dir, dir]);
  await run('mount', ['--make-shared', dir]);
  try {
    const id = await create(ctr(['sleep', '1000'], { mounts: [
      { container_path: '/private', host_path: dir, propagation: PRIVATE },
      { container_path: '/slave', host_path: dir, propagation: HOST_TO_CONTAINER },
    ] }));
    await d.client.call('StartContainer', { container_id: id });
    assert.equal((await status(id)).state, RUNNING);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'later', join(dir, 'sub')]);
    await writeFile(join(dir, 'sub', 'marker'), 'mounted later\n');
    const see = async (p: string): Promise<string> => (await d.client.call('ExecSync', { container_id: id, cmd: ['cat', p] })).stdout.toString();
    assert.equal(await see('/slave/sub/marker'), 'mounted later\n', 'rslave: a host mount made after start propagates in');
    assert.equal(await see('/private/sub/marker'), '', 'rprivate: it does not');
    const info = (await status(id, true)).info.runtimeSpec;
    assert.ok(info.mounts.find((m: Any) => m.destination === '/slave').options.includes('rslave'));
    assert.ok(info.mounts.find((m: Any) => m.destination === '/private').options.includes('rprivate'));
    await d.client.call('RemoveContainer', { container_id: id });
  } finally {
    await unmountAllUnder(dir);
  }
  assert.deepEqual(await mountsUnder(dir), []);

  await assert.rejects(create(ctr(['true'], { mounts: [{ container_path: '/bidi', host_path: dir, propagation: BIDIRECTIONAL }] })),
    grpcError(Code.FAILED_PRECONDITION, dir, 'BIDIRECTIONAL', 'shared'));
});

test('CreateContainer creates a missing bind-mount source as a directory, as containerd and CRI-O do', async () => {
  const absent = join(work, 'absent', 'modules');
  const { out } = await runToEnd(ctr(sh('test -d /lib/modules && echo dir'), { mounts: [{ container_path: '/lib/modules', host_path: absent, readonly: true }] }));
  assert.match(out, /^dir$/m);
  assert.ok((await stat(absent)).isDirectory(), 'the host directory was created');
  await writeFile(join(work, 'a-file'), '');
  await assert.rejects(create(ctr(['true'], { mounts: [{ container_path: '/x', host_path: join(work, 'a-file', 'sub') }] })), grpcError(Code.INVALID_ARGUMENT, 'a-file'));
  await assert.rejects(create(ctr(['true'], { mounts: [{ container_path: '/x', host_path: 'relative/dir' }] })), grpcError(Code.INVALID_ARGUMENT, 'relative/dir'));
});

test('BIDIRECTIONAL on a shared host mount propagates a mount made in a privileged container back to the host', async () => {
  const dir = join(work, 'bidi');
  await mkdir(join(dir, 'sub'), { recursive: true });
  await run('mount', ['--bind', dir, dir]);
  await run('mount', ['--make-shared', dir]);
  try {
    const { out } = await runToEnd(ctr(sh('mount -t tmpfs from-container /bidi/sub && echo ok > /bidi/sub/f && echo mounted'), {
      mounts: [{ container_path: '/bidi', host_path: dir, propagation: BIDIRECTIONAL }],
    }, { privileged: true }));
    assert.match(out, /^mounted$/m);
    assert.equal(await readFile(join(dir, 'sub', 'f'), 'utf8'), 'ok\n', 'the container\'s mount is visible on the host');
  } finally {
    await unmountAllUnder(dir);
  }
});

/** Whether recursive read-only mounts work here: kernel 5.12+ and an OCI runtime listing `rro` in `features`. */
async function rroWorksHere(): Promise<boolean> {
  const [major = 0, minor = 0] = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).split('.').map(Number);
  const features = await runAllowFailure('runc', ['features']);
  return (major > 5 || (major === 5 && minor >= 12)) && features.exitCode === 0 && (JSON.parse(features.stdout).mountOptions as string[]).includes('rro');
}

test('recursive_read_only makes submounts read-only where kernel and runtime support it, else RROUnsupported', async () => {
  const dir = join(work, 'rro');
  await mkdir(join(dir, 'sub'), { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'rro-sub', join(dir, 'sub')]);
  try {
    // The shell's own complaint goes to /dev/null: interleaved with stdout in the log it
    // could split a "sub=" line.
    const config = ctr(sh('exec 2>/dev/null; echo x > /r/sub/f; echo "sub=$?"; echo x > /plain/sub/f; echo "plain=$?"'), { mounts: [
      { container_path: '/r', host_path: dir, readonly: true, recursive_read_only: true },
      { container_path: '/plain', host_path: dir, readonly: true },
    ] });
    if (await rroWorksHere()) {
      const { out } = await runToEnd(config);
      assert.match(out, /^sub=1$/m, `a submount of a recursive read-only mount is read-only:\n${out}`);
      assert.match(out, /^plain=0$/m, `a plain read-only bind leaves submounts writable:\n${out}`);
    } else {
      await assert.rejects(create(config), grpcError(Code.FAILED_PRECONDITION, 'RROUnsupported'));
    }
    await assert.rejects(create(ctr(['true'], { mounts: [{ container_path: '/r', host_path: dir, readonly: false, recursive_read_only: true }] })), grpcError(Code.INVALID_ARGUMENT, 'readonly'));
  } finally {
    await runAllowFailure('umount', [join(dir, 'sub')]);
  }
});

test('Status runtime_handlers features report recursive_read_only_mounts as CreateContainer applies them', async () => {
  const features = ((await d.client.call('Status', {})).runtime_handlers as Any[]).find((h) => h.name === '')?.features;
  assert.ok(features, 'Status reports the default handler');
  assert.equal(features.recursive_read_only_mounts, await rroWorksHere());
});

test('env merges image and config; command/args against the image Entrypoint/Cmd; working dir from the image or config', async () => {
  const img = imgs.configured.reference;
  const env = await runToEnd(ctr(['sh', '-c', 'echo "$FROM_IMAGE $OVERRIDE_ME $NEW"'], { envs: [{ key: 'OVERRIDE_ME', value: Buffer.from('config') }, { key: 'NEW', value: Buffer.from('new') }] }, {}, img));
  assert.equal(env.out, 'yes config new\n');
  const argsOnly = await runToEnd(ctr(undefined, { args: ['echo args-only; pwd'] }, {}, img));
  assert.equal(argsOnly.out, 'args-only\n/work\n', 'args replace Cmd after the image Entrypoint, cwd from the image');
  const cmdOnly = await runToEnd(ctr(['echo', 'command-only'], {}, {}, img));
  assert.equal(cmdOnly.out, 'command-only\n', 'command replaces Entrypoint and drops the image Cmd');
  const both = await runToEnd(ctr(['sh', '-c'], { args: ['echo both; pwd'], working_dir: '/tmp' }, {}, img));
  assert.equal(both.out, 'both\n/tmp\n');
  const plain = await runToEnd(ctr(['sh'], { args: ['-c', 'echo "$PATH"'] }));
  assert.match(plain.out, /\/bin/, 'command + args run together; PATH from the image or the default');
});

test('resources are visible in the container\'s cgroup files', async () => {
  const { out } = await runToEnd(ctr(['cat', '/sys/fs/cgroup/cpu/cpu.shares', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us', '/sys/fs/cgroup/cpu/cpu.cfs_period_us', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpuset/cpuset.cpus'], {
    linux: { resources: { cpu_shares: '256', cpu_quota: '25000', cpu_period: '50000', memory_limit_in_bytes: String(48 * 1024 * 1024), cpuset_cpus: '0' } },
  }));
  assert.equal(out, `256\n25000\n50000\n${48 * 1024 * 1024}\n0\n`);
});
