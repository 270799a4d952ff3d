/**
 * CDI devices through the real daemon: spec files in a temp CDI dir (configured with
 * cdi.spec_dirs) give a container a char device under a new path with /dev/null's numbers,
 * a bind mount, env, a group and a createRuntime hook; a file added while the daemon runs is
 * picked up; an unknown device is refused naming it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code } from '@grpc/grpc-js';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from './helpers/daemon.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let registry: RunningRegistry;
let imgs: StandardTestImages;
let d: RunningDaemon;
let work: string;
let cdiDir: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'critter-cdi-'));
  cdiDir = join(work, 'cdi');
  await mkdir(join(work, 'share'), { recursive: true });
  await mkdir(cdiDir);
  await writeFile(join(work, 'share', 'hello'), 'from the host\n');
  await writeFile(join(cdiDir, 'null.yaml'), `cdiVersion: 0.6.0
kind: example.com/null
containerEdits:
  env: [CDI_VENDOR=example]
devices:
  - name: dev0
    containerEdits:
      deviceNodes:
        - path: /dev/cdi-null
          hostPath: /dev/null
          permissions: rw
      mounts:
        - hostPath: ${join(work, 'share')}
          containerPath: /cdi-share
          options: [ro, rbind]
      additionalGids: [4242]
      hooks:
        - hookName: createRuntime
          path: /bin/sh
          args: [sh, -c, 'echo ran > ${join(work, 'hook-ran')}']
`);
  await writeFile(join(cdiDir, 'broken.json'), '{"cdiVersion": "0.6.0", "kind": "no-class"}');
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  d = await startDaemon({ registriesConf: registriesConfText(registry.host), configYaml: `cdi:\n  spec_dirs: [${JSON.stringify(cdiDir)}]\n` });
  await d.client.call('PullImage', { image: { image: imgs.busybox.reference } });
});

after(async () => {
  if (d) {
    for (const p of (await d.client.call('ListPodSandbox', {})).items as Any[]) await d.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    await d.stop();
  }
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const grpcError = (code: number, ...needles: string[]) => (err: { code: number; details: string }) => {
  assert.equal(err.code, code, `expected ${Code[code]}, got ${Code[err.code]}: ${err.details}`);
  for (const n of needles) assert.ok(err.details.includes(n), `"${err.details}" should mention ${n}`);
  return true;
};

let seq = 0;
async function runPod(): Promise<{ id: string; config: Any }> {
  const name = `cdi${++seq}`;
  const config = { metadata: { name, namespace: 'cdi-test', uid: `uid-${name}`, attempt: 0 }, log_directory: join(work, 'logs', name), linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } } };
  return { id: (await d.client.call('RunPodSandbox', { config })).pod_sandbox_id as string, config };
}

function ctr(extra: Any): Any {
  return {
    metadata: { name: 'app', attempt: 0 }, image: { image: imgs.busybox.reference }, log_path: 'app/0.log', command: ['sleep', '3600'],
    linux: { security_context: { namespace_options: { network: 2, pid: 1, ipc: 0 } } }, ...extra,
  };
}

async function sh(id: string, script: string): Promise<string> {
  const r = await d.client.call('ExecSync', { container_id: id, cmd: ['sh', '-c', script], timeout: 10 });
  assert.equal(r.exit_code, 0, `${script}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

test('CreateContainer() applies a CDI device\'s node, mount, env, group and hook', async () => {
  const pod = await runPod();
  const id = (await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr({ CDI_devices: [{ name: 'example.com/null=dev0' }] }), sandbox_config: pod.config })).container_id as string;
  await d.client.call('StartContainer', { container_id: id });
  assert.equal(await sh(id, 'stat -c "%F %t:%T" /dev/cdi-null'), 'character special file 1:3\n', 'the node has /dev/null\'s numbers');
  assert.equal(await sh(id, 'echo discard > /dev/cdi-null && echo written'), 'written\n', 'the device cgroup allows writing');
  assert.equal(await sh(id, 'cat /cdi-share/hello'), 'from the host\n');
  await assert.rejects(sh(id, 'touch /cdi-share/x'), /Read-only file system/, 'the mount is read-only');
  assert.equal(await sh(id, 'echo $CDI_VENDOR'), 'example\n');
  assert.match(await sh(id, 'id -G'), /\b4242\b/);
  assert.equal(await readFile(join(work, 'hook-ran'), 'utf8'), 'ran\n');
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

test('CreateContainer() refuses an unknown CDI device naming it, and sees a spec file added later', async () => {
  const pod = await runPod();
  const ask = { annotations: { 'cdi.k8s.io/test-plugin_x': 'example.com/late=dev1' } };
  await assert.rejects(d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr(ask), sandbox_config: pod.config }), grpcError(Code.NOT_FOUND, 'example.com/late=dev1'));
  await assert.rejects(d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr({ CDI_devices: [{ name: 'not-qualified' }] }), sandbox_config: pod.config }), grpcError(Code.INVALID_ARGUMENT, 'not-qualified'));
  await writeFile(join(cdiDir, 'late.json'), JSON.stringify({ cdiVersion: '0.8.0', kind: 'example.com/late', devices: [{ name: 'dev1', containerEdits: { env: ['LATE=yes'] } }] }));
  const id = (await d.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr(ask), sandbox_config: pod.config })).container_id as string;
  await d.client.call('StartContainer', { container_id: id });
  assert.equal(await sh(id, 'echo $LATE'), 'yes\n');
  assert.match(d.logs(), /Skipping a broken CDI spec file/);
  await d.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});
