/**
 * Conformance, area "Security Context": mirrors upstream critest's specs (cri-tools
 * pkg/validate/security_context_linux.go) over gRPC against the real daemon on a private
 * CNI network, with busybox from a local registry. Deviations, each forced by the offline
 * stand-in image (Debian's busybox-static, no nginx, no setuid test binary):
 * - HostPID/PodPID/ContainerPID watch a busybox `sleep` instead of nginx's master process;
 * - NoNewPrivs reads NoNewPrivs from /proc/self/status instead of running a setuid binary;
 * - MaskedPaths execs the masked /bin/ls directly (the shell would run its built-in ls);
 * - HostIpc reads /proc/sysvipc/shm (the image has no `ipcs`).
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runAllowFailure } from '../../src/lib/exec.ts';
import type { PodDaemon } from '../integration/helpers/pod-network.ts';
import { startCritestSuite, stopCritestSuite } from './helpers/suite.ts';
import { type RunningRegistry } from '../fixtures/registry.ts';
import { type StandardTestImages } from '../fixtures/standard-images.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const POD = 0;
const CONTAINER = 1;
const NODE = 2;
const RUNNING = 1;
const EXITED = 2;
const PAUSE_CMD = ['sh', '-c', 'while true; do sleep 1; done'];
const BLOCK_HOSTNAME = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['sethostname'], action: 'SCMP_ACT_ERRNO' }] });
const BLOCK_CHMOD = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod', 'fchmodat', 'fchmodat2'], action: 'SCMP_ACT_ERRNO' }] });

describe('[k8s.io] Security Context', () => {
  let pd: PodDaemon;
  let registry: RunningRegistry;
  let imgs: StandardTestImages;
  let etc: string;
  let podId = '';
  let podConfig: Any;
  const rc = (rpc: string, req: Record<string, unknown>) => pd.daemon.client.call(rpc, req);

  before(async () => {
    ({ pd, registry, imgs } = await startCritestSuite());
    etc = await mkdtemp(join(tmpdir(), 'critter-critest-sc-'));
    await writeFile(join(etc, 'block-host-name.json'), BLOCK_HOSTNAME);
    await writeFile(join(etc, 'block-chmod.json'), BLOCK_CHMOD);
    await rc('PullImage', { image: { image: imgs.busybox.reference } });
  });
  after(async () => {
    await stopCritestSuite({ pd, registry });
    if (etc) await rm(etc, { recursive: true, force: true });
  });
  afterEach(async () => {
    if (podId === '') return;
    // The specs' shells and sleeps ignore SIGTERM as pid 1: kill them rather than wait out
    // StopPodSandbox's grace period for each one.
    for (const c of (await rc('ListContainers', { filter: { pod_sandbox_id: podId } })).containers as Any[]) {
      await rc('StopContainer', { container_id: c.id, timeout: 0 });
    }
    await rc('StopPodSandbox', { pod_sandbox_id: podId });
    await rc('RemovePodSandbox', { pod_sandbox_id: podId });
    podId = '';
  });

  async function runPod(opts: { ns?: Any; privileged?: boolean; logDirectory?: string; seccompProfilePath?: string } = {}): Promise<void> {
    podConfig = {
      metadata: { name: `sandbox-${randomUUID()}`, uid: `cri-test-uid-${randomUUID()}`, namespace: `cri-test-namespace-${randomUUID()}`, attempt: 0 },
      log_directory: opts.logDirectory ?? '',
      linux: { security_context: { namespace_options: opts.ns ?? { pid: CONTAINER }, privileged: opts.privileged ?? false, seccomp_profile_path: opts.seccompProfilePath ?? '' } },
    };
    podId = (await rc('RunPodSandbox', { config: podConfig })).pod_sandbox_id as string;
  }

  function containerConfig(prefix: string, command: string[], sc: Any = {}, extra: Any = {}): Any {
    const name = `${prefix}${randomUUID()}`;
    return {
      metadata: { name, attempt: 0 },
      image: { image: imgs.busybox.reference },
      command,
      log_path: `${name}.log`,
      linux: { security_context: { namespace_options: podConfig.linux.security_context.namespace_options, ...sc } },
      ...extra,
    };
  }

  async function create(config: Any): Promise<string> {
    return (await rc('CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: podConfig })).container_id as string;
  }

  async function waitState(id: string, state: number): Promise<Any> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const s = (await rc('ContainerStatus', { container_id: id, verbose: true }));
      if (s.status.state === state) return { ...s.status, info: JSON.parse(s.info.info as string) };
      if (Date.now() > deadline) throw new Error(`container ${id} never reached state ${state}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function startRunning(prefix: string, command: string[], sc: Any = {}): Promise<string> {
    const id = await create(containerConfig(prefix, command, sc));
    await rc('StartContainer', { container_id: id });
    await waitState(id, RUNNING);
    return id;
  }

  /** Runs to the end and returns its log lines for `stream` (matchContainerOutput / verifyLogContents). */
  async function output(prefix: string, command: string[], sc: Any, stream = 'stdout'): Promise<string> {
    const config = containerConfig(prefix, command, sc);
    const id = await create(config);
    await rc('StartContainer', { container_id: id });
    await waitState(id, EXITED);
    const text = await readFile(join(podConfig.log_directory as string, config.log_path as string), 'utf8');
    return text.split('\n').filter(Boolean).map((l) => /^\S+ (\S+) [FP] (.*)$/.exec(l)!).filter((m) => m[1] === stream).map((m) => `${m[2]}\n`).join('');
  }

  const exec = async (id: string, cmd: string[]): Promise<{ stdout: string; stderr: string; failed: boolean }> => {
    const r = await rc('ExecSync', { container_id: id, cmd, timeout: 60 });
    return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), failed: r.exit_code !== 0 };
  };

  async function withLogDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'podLogTest'));
    try {
      return await fn(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  describe('NamespaceOption', () => {
    it('runtime should support HostPID', async () => {
      const ns = { pid: NODE, ipc: POD, network: POD };
      await runPod({ ns });
      const first = await startRunning('sleeper-', ['sleep', '1001']);
      const hostPid = (await waitState(first, RUNNING)).info.pid as number;
      const second = await startRunning('container-with-HostPID-test-', ['sh', '-c', 'sleep 1000']);
      const pids = (await exec(second, ['pidof', 'sleep'])).stdout.trim().split(' ');
      assert.ok(pids.includes(String(hostPid)), `pid ${hostPid} should be seen by hostpid containers (got ${pids.join(' ')})`);
    });

    for (const hostIpc of [true, false]) {
      it(`runtime should support HostIpc is ${hostIpc}`, async () => {
        const out = await run('ipcmk', ['-M', '1048576'], { timeoutMs: 5000 });
        const segment = out.stdout.trim().replace('Shared memory id: ', '');
        try {
          await runPod({ ns: { pid: CONTAINER, ipc: hostIpc ? NODE : POD, network: POD } });
          const id = await startRunning('namespace-container-', PAUSE_CMD);
          const shm = (await exec(id, ['cat', '/proc/sysvipc/shm'])).stdout;
          const ids = shm.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]).filter(Boolean);
          assert.equal(ids.includes(segment), hostIpc, `segment ${segment} in ${JSON.stringify(ids)}`);
        } finally {
          await runAllowFailure('ipcrm', ['-m', segment]);
        }
      });
    }

    it('runtime should support PodPID', async () => {
      await runPod({ ns: { pid: POD } });
      const id = await startRunning('sleeper-', ['sleep', '1002']);
      const cmdline = (await exec(id, ['cat', '/proc/1/cmdline'])).stdout;
      assert.ok(!cmdline.includes('sleep'), `pid 1 is the pod's infra process, not the container (${JSON.stringify(cmdline)})`);
    });

    it('runtime should support ContainerPID', async () => {
      await runPod({ ns: { pid: CONTAINER } });
      const id = await startRunning('sleeper-', ['sleep', '1003']);
      assert.equal((await exec(id, ['cat', '/proc/1/cmdline'])).stdout, 'sleep\u00001003\u0000');
    });

    for (const hostNetwork of [true, false]) {
      it(`runtime should support HostNetwork is ${hostNetwork}`, async () => {
        const srv: Server = createServer((c) => c.end('hello'));
        await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
        const port = (srv.address() as AddressInfo).port;
        try {
          await withLogDir(async (dir) => {
            const ns = { pid: POD, ipc: POD, network: hostNetwork ? NODE : POD };
            await runPod({ ns, logDirectory: dir });
            const out = await output('container-with-HostNetwork-test-', ['sh', '-c', 'netstat -ln'], {});
            assert.equal(out.includes(`:${port} `), hostNetwork, `port ${port} in the container's listening sockets:\n${out}`);
          });
        } finally {
          srv.close();
        }
      });
    }
  });

  describe('bucket', () => {
    it('runtime should support SupplementalGroups', async () => {
      await runPod();
      const id = await startRunning('container-with-SupplementalGroups-test-', PAUSE_CMD, { supplemental_groups: ['1234', '5678'] });
      const groups = (await exec(id, ['id', '-G'])).stdout.trim().split(' ');
      assert.ok(groups.includes('1234') && groups.includes('5678'), groups.join(' '));
    });

    it('runtime should support RunAsUser', async () => {
      await runPod();
      const id = await startRunning('container-with-RunAsUser-test-', PAUSE_CMD, { run_as_user: { value: 1001 } });
      assert.equal((await exec(id, ['id', '-u'])).stdout, '1001\n');
    });

    it('runtime should support RunAsUserName', async () => {
      await runPod();
      const id = await startRunning('container-with-RunAsUserName-test-', PAUSE_CMD, { run_as_username: 'nobody' });
      assert.equal((await exec(id, ['id', '-nu'])).stdout, 'nobody\n');
    });

    it('runtime should support RunAsGroup', async () => {
      await withLogDir(async (dir) => {
        await runPod({ logDirectory: dir });
        const out = await output('container-with-RunAsGroup-test-', ['sh', '-c', 'echo $(id -u):$(id -g)'], { run_as_user: { value: 1001 }, run_as_group: { value: 1002 } });
        assert.equal(out, '1001:1002\n');
      });
    });

    it('runtime should return error if RunAsGroup is set without RunAsUser', async () => {
      await runPod();
      await assert.rejects(create(containerConfig('container-with-RunAsGroup-without-RunAsUser-test-', ['sh', '-c', 'echo $(id -u):$(id -g)'], { run_as_group: { value: 1002 } })));
    });

    for (const readonly of [false, true]) {
      it(`runtime should support that ReadOnlyRootfs is ${readonly}`, async () => {
        await withLogDir(async (dir) => {
          await runPod({ logDirectory: dir });
          const cmd = ['sh', '-c', "touch test.go && [ -f test.go ] && echo 'Found'"];
          if (readonly) assert.equal(await output('container-with-ReadOnlyRootfs-true-test-', cmd, { readonly_rootfs: true }, 'stderr'), 'touch: test.go: Read-only file system\n');
          else assert.equal(await output('container-with-ReadOnlyRootfs-false-test-', cmd, { readonly_rootfs: false }), 'Found\n');
        });
      });
    }

    for (const privileged of [true, false]) {
      it(`runtime should support Privileged is ${privileged}`, async () => {
        await runPod({ privileged });
        const id = await startRunning('container-with-isPrivileged-test-', PAUSE_CMD, { privileged });
        const r = await exec(id, ['brctl', 'addbr', 'foobar']);
        assert.equal(r.failed, !privileged, `brctl addbr: ${r.stdout} ${r.stderr}`);
      });
    }

    it('runtime should support setting Capability', async () => {
      await runPod();
      const withCap = await startRunning('container-with-Capability-test-', PAUSE_CMD, { capabilities: { add_capabilities: ['NET_ADMIN'] } });
      assert.equal((await exec(withCap, ['brctl', 'addbr', 'foobar'])).failed, false);
      const without = await startRunning('container-with-notCapability-test-', PAUSE_CMD);
      assert.equal((await exec(without, ['brctl', 'addbr', 'foobar2'])).failed, true);
    });

    it('runtime should support MaskedPaths', async () => {
      await runPod();
      const id = await startRunning('container-with-maskedpaths', PAUSE_CMD, { masked_paths: ['/bin/ls'] });
      const r = await rc('ExecSync', { container_id: id, cmd: ['/bin/ls'], timeout: 60 }).then((x) => ({ ok: x.exit_code === 0, text: `${x.stdout}${x.stderr}` }), (e: Error) => ({ ok: false, text: e.message }));
      assert.equal(r.ok, false, 'the masked binary cannot run');
      assert.match(r.text, /permission denied/i);
    });

    it('runtime should support ReadonlyPaths', async () => {
      await runPod();
      const id = await startRunning('container-with-readonlypaths', PAUSE_CMD, { readonly_paths: ['/tmp'] });
      const r = await exec(id, ['touch', '/tmp/test']);
      assert.equal(r.failed, true);
      assert.equal(r.stderr, 'touch: /tmp/test: Read-only file system\n');
    });
  });

  describe('SeccompProfilePath', () => {
    const seccompMode = async (profile: string): Promise<string> => {
      await runPod({ seccompProfilePath: profile });
      const id = await startRunning(`seccomp-container-${profile.replaceAll('/', '-')}-`, PAUSE_CMD, { seccomp_profile_path: profile });
      return /Seccomp:\s+(\d)/.exec((await exec(id, ['grep', 'ecc', '/proc/self/status'])).stdout)![1]!;
    };

    it('should support seccomp unconfined on the container', async () => {
      assert.equal(await seccompMode('unconfined'), '0');
    });

    it('should support seccomp localhost/profile on the container', async () => {
      await runPod();
      const id = await startRunning('seccomp-localhost-', PAUSE_CMD, { seccomp_profile_path: `localhost/${join(etc, 'block-chmod.json')}` });
      const r = await exec(id, ['chmod', '400', '/']);
      assert.equal(r.failed, true);
      assert.match(r.stderr, /Operation not permitted/);
    });

    it('should support seccomp default which is unconfined on the container', async () => {
      assert.equal(await seccompMode(''), '0');
    });

    const hostnameCase = async (profile: string, caps: string[], privileged: boolean): Promise<boolean> => {
      await runPod({ privileged });
      const id = await startRunning('container-with-block-hostname-seccomp-profile-test-', ['sleep', '60'], { privileged, capabilities: { add_capabilities: caps }, seccomp_profile_path: profile });
      return !(await exec(id, ['hostname', 'ANewHostName'])).failed;
    };

    it('runtime should not block setting host name with unconfined seccomp and SYS_ADMIN', async () => {
      assert.equal(await hostnameCase('unconfined', ['SYS_ADMIN'], false), true);
    });

    it('runtime should support an seccomp profile that blocks setting hostname with SYS_ADMIN', async () => {
      assert.equal(await hostnameCase(`localhost/${join(etc, 'block-host-name.json')}`, ['SYS_ADMIN'], false), false);
    });

    it('runtime should not support a custom seccomp profile without using localhost/ as a prefix', async () => {
      await runPod();
      await assert.rejects(create(containerConfig('container-with-block-hostname-seccomp-profile-test-', ['sleep', '60'], { seccomp_profile_path: join(etc, 'block-host-name.json') })));
    });

    it('runtime should ignore a seccomp profile that blocks setting hostname when privileged', async () => {
      assert.equal(await hostnameCase(`localhost/${join(etc, 'block-host-name.json')}`, [], true), true);
    });

    it('should support seccomp docker/default on the container', async () => {
      assert.equal(await seccompMode('docker/default'), '2');
    });

    it('runtime should support setting hostname with docker/default seccomp profile and SYS_ADMIN', async () => {
      assert.equal(await hostnameCase('docker/default', ['SYS_ADMIN'], false), true);
    });

    it('runtime should block sethostname with docker/default seccomp profile and no extra caps', async () => {
      assert.equal(await hostnameCase('docker/default', [], false), false);
    });
  });

  describe('SeccompProfile (SecurityProfile field)', () => {
    it('should support seccomp RuntimeDefault, Unconfined and Localhost on the container', async () => {
      await runPod();
      const mode = async (seccomp: Any): Promise<string> => {
        const id = await startRunning('seccomp-profile-', PAUSE_CMD, { seccomp });
        return /Seccomp:\s+(\d)/.exec((await exec(id, ['grep', 'ecc', '/proc/self/status'])).stdout)![1]!;
      };
      assert.equal(await mode({ profile_type: 0 }), '2');
      assert.equal(await mode({ profile_type: 1 }), '0');
      const id = await startRunning('seccomp-profile-localhost-', PAUSE_CMD, { seccomp: { profile_type: 2, localhost_ref: join(etc, 'block-chmod.json') } });
      assert.match((await exec(id, ['chmod', '400', '/'])).stderr, /Operation not permitted/);
    });
  });

  describe('NoNewPrivs', () => {
    for (const nnp of [true, false]) {
      it(`should ${nnp ? 'not ' : ''}allow privilege escalation when ${nnp}`, async () => {
        await withLogDir(async (dir) => {
          await runPod({ logDirectory: dir });
          const out = await output(`alpine-nnp-${nnp}-`, ['grep', 'NoNewPrivs', '/proc/self/status'], { no_new_privs: nnp, run_as_user: { value: 1000 } });
          assert.match(out, new RegExp(`^NoNewPrivs:\\s+${nnp ? 1 : 0}$`, 'm'));
        });
      });
    }
  });
});
