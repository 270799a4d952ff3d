/**
 * Stats, metrics RPCs and Prometheus feeds end to end: a real daemon sampling every
 * second, real containers in a pod on a private CNI network, images from a real registry.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { standardTestImages, type StandardTestImages } from '../fixtures/standard-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startPodDaemon, podSandboxConfig, type PodDaemon } from './helpers/pod-network.ts';
import { CLI } from './helpers/daemon.ts';
import { run } from '../../src/lib/exec.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let registry: RunningRegistry;
let imgs: StandardTestImages;
let pd: PodDaemon;
let logDir: string;
let pod: { id: string; config: Any; ip: string };
let burner: string;
let sleeper: string;

const call = (rpc: string, req: Any = {}): Promise<Any> => pd.daemon.client.call(rpc, req);

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startContainer(name: string, command: string[], extra: Any = {}): Promise<string> {
  const config = { metadata: { name, attempt: 0 }, image: { image: imgs.busybox.reference }, command, labels: { role: name }, log_path: `${name}.log`, ...extra };
  const { container_id: id } = await call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await call('StartContainer', { container_id: id });
  return id as string;
}

const num = (v: Any | null | undefined): number => Number(v?.value ?? NaN);

before(async () => {
  registry = await startRegistry();
  imgs = await standardTestImages(registry);
  logDir = await mkdtemp(join(tmpdir(), 'critter-stats-logs-'));
  pd = await startPodDaemon({ registriesConf: registriesConfText(registry.host), configYaml: 'stats:\n  sample_period_seconds: 1\n' });
  await call('PullImage', { image: { image: imgs.busybox.reference } });
  const config = podSandboxConfig('stats', { log_directory: logDir });
  const { pod_sandbox_id: id } = await call('RunPodSandbox', { config });
  const s = await call('PodSandboxStatus', { pod_sandbox_id: id });
  pod = { id, config, ip: s.status.network.ip };
  burner = await startContainer('burner', ['sh', '-c', 'while :; do :; done']);
  sleeper = await startContainer('sleeper', ['sleep', '3600']);
});

after(async () => {
  await pd?.close();
  await registry?.stop();
  if (logDir) await rm(logDir, { recursive: true, force: true });
});

test('ContainerStats() of a CPU-burning container has usage_nano_cores > 0 on the first call after start', async () => {
  const { stats } = await call('ContainerStats', { container_id: burner });
  assert.equal(stats.attributes.id, burner);
  assert.ok(num(stats.cpu.usage_nano_cores) > 0, `usage_nano_cores ${JSON.stringify(stats.cpu.usage_nano_cores)}`);
  assert.ok(num(stats.cpu.usage_core_nano_seconds) > 0);
  const ts = BigInt(stats.cpu.timestamp);
  assert.ok(ts > BigInt(Date.now() - 60_000) * 1_000_000n && ts <= BigInt(Date.now()) * 1_000_000n, `timestamp ${ts} is in ns`);
  // Let the sampler finish a full window: a burning loop uses most of a core.
  const later = await waitFor('a full-window rate', async () => {
    const s = (await call('ContainerStats', { container_id: burner })).stats;
    return num(s.cpu.usage_nano_cores) > 300_000_000 ? s : undefined;
  });
  assert.ok(num(later.cpu.usage_nano_cores) < 2_100_000_000);
  assert.ok(num(later.memory.working_set_bytes) > 0);
  assert.ok(num(later.memory.working_set_bytes) <= num(later.memory.usage_bytes));
});

test('ContainerStats() memory grows when the container allocates, and the writable layer when it writes', async () => {
  const before = (await call('ContainerStats', { container_id: sleeper })).stats;
  assert.equal(before.writable_layer.fs_id.mountpoint.length > 0, true);
  const layer0 = num(before.writable_layer.used_bytes);
  const mem0 = num(before.memory.usage_bytes);
  // tmpfs pages are charged to the writer's memory cgroup; the exec runs in the container's.
  await call('ExecSync', { container_id: sleeper, cmd: ['dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=32'], timeout: 30 });
  await call('ExecSync', { container_id: sleeper, cmd: ['dd', 'if=/dev/zero', 'of=/written', 'bs=1M', 'count=8'], timeout: 30 });
  const grown = await waitFor('memory and layer growth', async () => {
    const s = (await call('ContainerStats', { container_id: sleeper })).stats;
    return num(s.memory.usage_bytes) > mem0 + 30 * 2 ** 20 && num(s.writable_layer.used_bytes) >= layer0 + 8 * 2 ** 20 ? s : undefined;
  });
  assert.ok(num(grown.writable_layer.inodes_used) >= 1);
  await call('ExecSync', { container_id: sleeper, cmd: ['rm', '/dev/shm/fill'], timeout: 10 });
});

test('PodSandboxStats() has network rx/tx from the pod netns that grow with traffic, and its containers', async () => {
  const first = (await call('PodSandboxStats', { pod_sandbox_id: pod.id })).stats;
  const rx0 = num(first.linux.network?.default_interface?.rx_bytes);
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => {
      const s = connect({ host: pod.ip, port: 9 }, () => s.destroy());
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
  }
  const after = await waitFor('rx to grow', async () => {
    const s = (await call('PodSandboxStats', { pod_sandbox_id: pod.id })).stats;
    return num(s.linux.network?.default_interface?.rx_bytes) > (Number.isNaN(rx0) ? 0 : rx0) ? s : undefined;
  });
  assert.equal(after.linux.network.default_interface.name, 'eth0');
  assert.ok(num(after.linux.network.default_interface.tx_bytes) > 0);
  assert.ok(num(after.linux.cpu.usage_nano_cores) > 0);
  assert.ok(num(after.linux.process.process_count) >= 2);
  assert.deepEqual(after.linux.containers.map((c: Any) => c.attributes.id).sort(), [burner, sleeper].sort());
});

test('ListContainerStats() and ListPodSandboxStats() filter by id prefix, pod id and labels; StreamContainerStats() sends each once', async () => {
  const all = (await call('ListContainerStats', {})).stats as Any[];
  assert.deepEqual(all.map((s) => s.attributes.id).sort(), [burner, sleeper].sort());
  const byId = (await call('ListContainerStats', { filter: { id: burner.slice(0, 12) } })).stats as Any[];
  assert.deepEqual(byId.map((s) => s.attributes.id), [burner]);
  const byLabel = (await call('ListContainerStats', { filter: { label_selector: { role: 'sleeper' } } })).stats as Any[];
  assert.deepEqual(byLabel.map((s) => s.attributes.id), [sleeper]);
  assert.equal((await call('ListContainerStats', { filter: { pod_sandbox_id: 'ffffffffffff' } })).stats.length, 0);
  assert.equal((await call('ListContainerStats', { filter: { pod_sandbox_id: pod.id.slice(0, 10) } })).stats.length, 2);
  const streamed = (await pd.daemon.client.stream('StreamContainerStats', {})).flatMap((m) => m.container_stats as Any[]);
  assert.deepEqual(streamed.map((s) => s.attributes.id).sort(), [burner, sleeper].sort());
  const pods = (await call('ListPodSandboxStats', { filter: { label_selector: { app: 'stats' } } })).stats as Any[];
  assert.deepEqual(pods.map((p) => p.attributes.id), [pod.id]);
  assert.equal((await call('ListPodSandboxStats', { filter: { label_selector: { app: 'nope' } } })).stats.length, 0);
  await assert.rejects(call('ContainerStats', { container_id: 'nonexistent' }), (e: { code: number }) => e.code === 5);
});

test('ListPodSandboxMetrics() labels every series with namespace, pod and container, as the kubelet serves them at /metrics/cadvisor', async (t) => {
  const descriptors = (await call('ListMetricDescriptors', {})).descriptors as Any[];
  const keys = new Map(descriptors.map((d) => [d.name as string, d.label_keys as string[]]));
  for (const d of descriptors) assert.deepEqual(d.label_keys.slice(0, 6), ['container', 'id', 'image', 'name', 'namespace', 'pod'], d.name);
  // A container with its own settings, so the spec_* series are checked against real values.
  const limited = await startContainer('limited', ['sleep', '3600'], { linux: { resources: { memory_limit_in_bytes: String(64 * 2 ** 20), cpu_shares: '512', cpu_period: '100000', cpu_quota: '50000' } } });
  // Removed whatever happens, so a failure here does not change what the next tests count.
  t.after(() => call('RemoveContainer', { container_id: limited }).catch(() => undefined));
  const metricsOf = async (): Promise<Any> => ((await call('ListPodSandboxMetrics', {})).pod_metrics as Any[]).find((p) => p.pod_sandbox_id === pod.id)!;
  const series = (pm: Any, id: string): Any[] => pm.container_metrics.find((c: Any) => c.container_id === id)?.metrics ?? [];
  // The first reading may be from the container's start, before sleep(1) runs and waits:
  // take one from once it sleeps (the sampler's readings may be two periods old).
  const pm = await waitFor('a sample of the new container sleeping', async () => {
    const m = await metricsOf();
    const lim = series(m, limited);
    return lim.some((x: Any) => x.name === 'container_tasks_state' && x.label_values[6] === 'sleeping' && num(x.value) === 1) ? m : undefined;
  }, 60_000);
  for (const m of [...pm.metrics, ...pm.container_metrics.flatMap((c: Any) => c.metrics)] as Any[]) {
    assert.equal(m.label_values.length, keys.get(m.name)?.length, `${m.name} has one value per label key`);
  }
  const value = (ms: Any[], name: string, ...extra: string[]): number => {
    const m = ms.find((x) => x.name === name && extra.every((e, i) => x.label_values[6 + i] === e));
    return m ? num(m.value) : NaN;
  };
  const lim = series(pm, limited);
  assert.deepEqual(lim.find((m) => m.name === 'container_memory_usage_bytes')!.label_values, ['limited', limited, imgs.busybox.reference, limited, 'critter-test', 'stats']);
  assert.equal(value(lim, 'container_spec_memory_limit_bytes'), 64 * 2 ** 20);
  assert.equal(value(lim, 'container_spec_cpu_shares'), 512);
  assert.equal(value(lim, 'container_spec_cpu_period'), 100000);
  assert.equal(value(lim, 'container_spec_cpu_quota'), 50000);
  assert.ok(value(lim, 'container_memory_usage_bytes') > 0);
  assert.ok(value(lim, 'container_memory_rss') > 0, `rss ${value(lim, 'container_memory_rss')}, cache ${value(lim, 'container_memory_cache')}`);
  assert.equal(value(lim, 'container_processes'), 1);
  assert.equal(value(lim, 'container_threads'), 1);
  assert.equal(value(lim, 'container_tasks_state', 'sleeping'), 1, 'sleep waits in S state');
  assert.equal(value(lim, 'container_tasks_state', 'running'), 0);
  assert.ok(value(lim, 'container_cpu_load_average_10s') >= 0);
  assert.ok(value(lim, 'container_file_descriptors') >= 1);
  assert.ok(value(lim, 'container_ulimits_soft', 'max_open_files') > 0);
  const start = value(lim, 'container_start_time_seconds');
  assert.ok(start <= Date.now() / 1000 && start > Date.now() / 1000 - 120, `start time ${start}`);
  assert.ok(value(lim, 'container_last_seen') >= start);
  assert.equal(value(lim, 'container_oom_events_total'), 0);
  // A reading may be up to two sample periods old (the sampler's cache): wait, with a
  // deadline, for one taken after the burner's first CPU second rather than assume it.
  const burn = await waitFor('a reading with the burner past one CPU second', async () => {
    const b = series(await metricsOf(), burner);
    return value(b, 'container_cpu_usage_seconds_total', 'total') >= 1 ? b : undefined;
  }, 60_000);
  assert.ok(value(burn, 'container_cpu_usage_seconds_total', 'total') >= 1, 'the burner has used a whole CPU second by now');
  assert.ok(value(burn, 'container_cpu_user_seconds_total') + value(burn, 'container_cpu_system_seconds_total') >= 1);
  assert.ok(value(burn, 'container_memory_failures_total', 'pgfault', 'hierarchy') > 0);
  assert.ok(value(burn, 'container_cpu_load_average_10s') > 500, `a busy loop keeps about one thread running: ${value(burn, 'container_cpu_load_average_10s')}`);
  const eth0 = pm.metrics.filter((m: Any) => m.label_values[6] === 'eth0');
  assert.deepEqual(eth0[0].label_values.slice(0, 6), ['POD', pod.id, '', pod.id, 'critter-test', 'stats']);
  assert.ok(value(eth0, 'container_network_receive_packets_total', 'eth0') > 0, 'the traffic test reached the pod');
  assert.ok(value(eth0, 'container_network_receive_bytes_total', 'eth0') > 0);
  const streamed = (await pd.daemon.client.stream('StreamPodSandboxMetrics', {})).flatMap((m) => m.pod_sandbox_metrics as Any[]);
  assert.ok(streamed.some((p) => p.pod_sandbox_id === pod.id));
});

test('ListContainerStats() for many containers stays cheap (measured)', async () => {
  const extra: string[] = [];
  for (let i = 0; i < 18; i++) extra.push(await startContainer(`idle${i}`, ['sleep', '3600']));
  // Measured once the sampler has seen every new container (its first samples are not the steady state).
  await waitFor('a sample of every new container', async () => {
    const r = await call('ListContainerStats', {});
    const sampled = new Set((r.stats as Any[]).filter((st) => st.cpu?.usage_core_nano_seconds).map((st) => st.attributes.id as string));
    return extra.every((id) => sampled.has(id)) ? true : undefined;
  });
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    const r = await call('ListContainerStats', {});
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    assert.equal(r.stats.length, 20);
  }
  times.sort((a, b) => a - b);
  const p50 = times[10]!;
  process.stdout.write(`# ListContainerStats, 20 running containers: p50 ${p50.toFixed(1)} ms, max ${times[19]!.toFixed(1)} ms\n`);
  assert.ok(p50 < 250, `p50 ${p50} ms`);
  for (const id of extra) await call('RemoveContainer', { container_id: id });
});

test('/metrics counts image pulls with bytes, CNI operations and OOM kills', async () => {
  const oom = await startContainer('oom', ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo ${#x}'], {
    linux: { resources: { memory_limit_in_bytes: String(20 * 1024 * 1024) } },
  });
  await waitFor('OOM kill', async () => ((await call('ContainerStatus', { container_id: oom })).status.reason === 'OOMKilled' ? true : undefined), 30_000);
  await assert.rejects(call('PullImage', { image: { image: `${registry.host}/no/such:image` } }));
  const text = await (await fetch(pd.daemon.metricsUrl())).text();
  const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
  assert.ok(value(/^critter_image_pulls_total\{outcome="success",reason=""\} (\d+)/m) >= 1, 'successful pull counted');
  assert.ok(value(/^critter_image_pulls_total\{outcome="failure",reason="(?:NOT_FOUND|UNAVAILABLE|UNKNOWN|PERMISSION_DENIED)"\} (\d+)/m) >= 1, 'failed pull counted');
  assert.ok(value(/^critter_image_pull_bytes_total (\d+)/m) > 0, 'pull bytes');
  assert.equal(value(/^critter_image_pulls_in_progress (\d+)/m), 0);
  assert.ok(value(/^critter_container_oom_kills_total (\d+)/m) >= 1, 'OOM kill counted');
  assert.ok(value(/^critter_cni_operation_duration_seconds_count\{operation="ADD"\} (\d+)/m) >= 1, 'CNI ADD timed');
  await call('RemoveContainer', { container_id: oom });
});

test('critter status summarises the running daemon through the admin socket', async () => {
  const { stdout } = await run(process.execPath, [CLI, 'status', '--run-root', pd.daemon.dirs.runRoot], { timeoutMs: 20_000 });
  assert.match(stdout, /^critter \d+\.\d+/);
  assert.match(stdout, /RuntimeReady\s+true/);
  assert.match(stdout, /NetworkReady\s+true/);
  assert.match(stdout, /Pods\s+1 \(1 ready\)/);
  assert.match(stdout, /Containers\s+2 \(2 running\)/);
  assert.match(stdout, /Images\s+1, [\d.]+ [KMG]?i?B on disk/);
});
