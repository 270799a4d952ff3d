/**
 * Conformance, area "Container": mirrors upstream critest's container specs (cri-tools
 * pkg/validate/container.go: basic operations, execSync, logs and log reopening), over
 * gRPC against the real daemon on a private CNI network with busybox from a local
 * registry. One deviation: upstream leaves the PID namespace mode unset (POD), which
 * needs the pod's infra process; these specs ask for pid = CONTAINER, as the kubelet does
 * for pods without shareProcessNamespace.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PodDaemon } from '../integration/helpers/pod-network.ts';
import { startCritestSuite, stopCritestSuite } from './helpers/suite.ts';
import { type RunningRegistry } from '../fixtures/registry.ts';
import { type StandardTestImages } from '../fixtures/standard-images.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CONTAINER_CREATED = 0;
const CONTAINER_RUNNING = 1;
const CONTAINER_EXITED = 2;
const PID_CONTAINER = { pid: 1 };

/** The CRI log line format (cri-api.md §4 item 23). */
const LOG_LINE = /^(\S+) (stdout|stderr) ([FP]) (.*)$/;

describe('[k8s.io] Container', () => {
  let pd: PodDaemon;
  let registry: RunningRegistry;
  let imgs: StandardTestImages;
  let podId = '';
  let podConfig: Any;
  const rc = (rpc: string, req: Record<string, unknown>) => pd.daemon.client.call(rpc, req);

  before(async () => {
    ({ pd, registry, imgs } = await startCritestSuite());
    await rc('PullImage', { image: { image: imgs.busybox.reference } });
  });
  after(async () => {
    await stopCritestSuite({ pd, registry });
  });
  afterEach(async () => {
    if (podId === '') return;
    await rc('StopPodSandbox', { pod_sandbox_id: podId });
    await rc('RemovePodSandbox', { pod_sandbox_id: podId });
    podId = '';
  });

  async function runPod(logDirectory = ''): Promise<string> {
    podConfig = {
      metadata: { name: `sandbox-${randomUUID()}`, uid: `cri-test-uid-${randomUUID()}`, namespace: `cri-test-namespace-${randomUUID()}`, attempt: 0 },
      log_directory: logDirectory,
      linux: { security_context: { namespace_options: PID_CONTAINER } },
    };
    podId = (await rc('RunPodSandbox', { config: podConfig })).pod_sandbox_id as string;
    return podId;
  }

  async function createContainer(prefix: string, command: string[], extra: Any = {}): Promise<string> {
    const config = {
      metadata: { name: `${prefix}${randomUUID()}`, attempt: 0 },
      image: { image: imgs.busybox.reference },
      command,
      linux: { security_context: { namespace_options: PID_CONTAINER } },
      ...extra,
    };
    return (await rc('CreateContainer', { pod_sandbox_id: podId, config, sandbox_config: podConfig })).container_id as string;
  }

  const state = async (id: string): Promise<number> => (await rc('ContainerStatus', { container_id: id })).status.state as number;
  const listed = async (id: string): Promise<boolean> => ((await rc('ListContainers', { filter: { id } })).containers as Any[]).some((c) => c.id === id);

  async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  describe('runtime should support basic operations on container', () => {
    it('runtime should support creating container [Conformance]', async () => {
      await runPod();
      const id = await createContainer('container-for-create-test-', ['sh', '-c', 'top']);
      assert.ok(await listed(id), 'container should be listed');
      assert.equal(await state(id), CONTAINER_CREATED);
    });

    it('runtime should support starting container [Conformance]', async () => {
      await runPod();
      const id = await createContainer('container-for-start-test-', ['sh', '-c', 'top']);
      await rc('StartContainer', { container_id: id });
      assert.equal(await state(id), CONTAINER_RUNNING);
    });

    it('runtime should support stopping container [Conformance]', async () => {
      await runPod();
      const id = await createContainer('container-for-stop-test-', ['sh', '-c', 'top']);
      await rc('StartContainer', { container_id: id });
      await rc('StopContainer', { container_id: id, timeout: 60 });
      assert.equal(await state(id), CONTAINER_EXITED);
    });

    it('runtime should support removing container [Conformance]', async () => {
      await runPod();
      const id = await createContainer('container-for-remove-test-', ['sh', '-c', 'top']);
      await rc('RemoveContainer', { container_id: id });
      assert.ok(!(await listed(id)), 'container should be removed');
    });

    it('runtime should support execSync [Conformance]', async () => {
      await runPod();
      const id = await createContainer('container-for-execSync-test-', ['sh', '-c', 'top']);
      await rc('StartContainer', { container_id: id });
      const r = await rc('ExecSync', { container_id: id, cmd: ['echo', 'hello'], timeout: 60 });
      assert.equal(r.exit_code, 0);
      assert.equal(r.stdout.toString(), 'hello\n');
    });
  });

  describe('runtime should support log', () => {
    let logDir = '';
    afterEach(async () => {
      if (logDir) await rm(logDir, { recursive: true, force: true });
      logDir = '';
    });

    it('runtime should support starting container with log [Conformance]', async () => {
      logDir = await mkdtemp(join(tmpdir(), 'podLogTest'));
      await runPod(logDir);
      const id = await createContainer('container-with-log-test-', ['echo', 'hello'], { log_path: 'container-with-log-test/0.log' });
      await rc('StartContainer', { container_id: id });
      await eventually('exit', async () => ((await state(id)) === CONTAINER_EXITED ? true : undefined));
      const status = (await rc('ContainerStatus', { container_id: id })).status;
      assert.equal(status.log_path, join(logDir, 'container-with-log-test/0.log'));
      const lines = (await readFile(status.log_path, 'utf8')).trimEnd().split('\n');
      assert.equal(lines.length, 1);
      const m = LOG_LINE.exec(lines[0]!);
      assert.ok(m, `"${lines[0]}" is a CRI log line`);
      assert.ok(!Number.isNaN(Date.parse(m[1]!)), 'RFC 3339 timestamp');
      assert.deepEqual([m[2], m[3], m[4]], ['stdout', 'F', 'hello']);
    });

    it('runtime should support reopening container log [Conformance]', async () => {
      logDir = await mkdtemp(join(tmpdir(), 'podLogTest'));
      await runPod(logDir);
      const id = await createContainer('container-reopen-log-test-', ['sh', '-c', 'while true; do echo hello; sleep 0.1; done'], { log_path: 'reopen/0.log' });
      await rc('StartContainer', { container_id: id });
      const path = join(logDir, 'reopen/0.log');
      await eventually('first log line', async () => ((await readFile(path, 'utf8').catch(() => '')).includes('hello') ? true : undefined));
      await rename(path, `${path}.rotated`);
      await rc('ReopenContainerLog', { container_id: id });
      await eventually('log line in the reopened file', async () => ((await readFile(path, 'utf8').catch(() => '')).includes('stdout F hello') ? true : undefined));
    });
  });
});
