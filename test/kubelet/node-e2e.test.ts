/**
 * The upstream Kubernetes node e2e suite (test/e2e_node of the release, the
 * `[NodeConformance]` specs containerd's and CRI-O's CI run) against critter, in the suite's
 * own mode: the test binary starts etcd, an apiserver and a kubelet pointed at critter's
 * socket, and runs its specs through that node. The images the specs pull are stand-ins built
 * offline and served by a local registry under their registry.k8s.io names
 * (helpers/node-e2e-images.ts); the node's address is a veth whose peer lives in a network
 * namespace of the test's own, so no spec reaches beyond this machine.
 *
 * Specs in node-e2e-skips.txt are not run (what upstream's node conformance jobs skip).
 * Every spec that fails must match node-e2e-known-failures.txt, whose entries say why it
 * cannot pass here (`host:`, `offline:` or `kubelet:`); any other failure is critter's and fails the test.
 *
 * Needs e2e_node.test and ginkgo built from the Kubernetes tree (its vendored ginkgo),
 * kubelet and agnhost (`E2E_NODE_TEST`, `GINKGO`, `KUBELET`, `AGNHOST` or `KUBE_BIN_DIR`);
 * skipped loudly without them or when another node uses this host. NODE_E2E_FOCUS narrows
 * the run to matching [NodeConformance] specs, NODE_E2E_NODES sets Ginkgo's parallelism
 * (default 4), NODE_E2E_KUBELET_FLAGS adds kubelet flags (space-separated), NODE_E2E_REPORT_DIR
 * keeps the report, ginkgo output and logs there.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../../src/lib/exec.ts';
import { repoRoot } from '../critest/upstream-images.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { mountsUnder } from '../integration/helpers/mounts.ts';
import type { PodDaemon } from '../integration/helpers/pod-network.ts';
import { findKubeBinaries } from './helpers/binaries.ts';
import { classifyFailures, parseGinkgoJsonReport, parseReasonList, summarize, type ListEntry } from './helpers/ginkgo-report.ts';
import { kubeIptablesRules, removeKubeIptablesRules } from './helpers/kube-iptables.ts';
import { makeNodeAddress, type NodeAddress } from './helpers/kubeadm-node.ts';
import {
  absentHostPaths, joinCgroup, KUBELET_HOST_CGROUPS, makeCgroup, nodeE2eHostProblem, pathWithout, removeHostPaths, removeNewCgroups, topCgroups,
} from './helpers/node-e2e-host.ts';
import { pushNodeE2eImages } from './helpers/node-e2e-images.ts';

const SUITE_TIMEOUT_MS = 150 * 60_000;
const GINKGO_TIMEOUT = '140m';
const KUBELET_STOP_GRACE_MS = 15_000;
/** Why a spec may fail here: the host, being offline, or the kubelet dropping what critter sends. */
const KNOWN_FAILURE_KINDS = ['host:', 'offline:', 'kubelet:'];

const found = await findKubeBinaries(['e2e_node.test', 'ginkgo', 'kubelet', 'agnhost'], 'node e2e suite (test/kubelet/node-e2e)');
const hostProblem = found.skip === false ? await nodeE2eHostProblem() : undefined;
if (hostProblem) process.stderr.write(`\n*** node e2e suite (test/kubelet/node-e2e) NOT run: ${hostProblem} ***\n\n`);
const skip = found.skip !== false ? found.skip : hostProblem ? `node e2e suite NOT run: ${hostProblem}` : false;
const dir = join(await repoRoot(), 'test', 'kubelet');

/** What the run left on the host, filled in by the suite's cleanup and checked by the second test. */
let leftovers: string[] | undefined;

/** PIDs of processes whose command line contains `needle` (the suite's kubelet, conmons of the test's daemon). */
async function pidsWith(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(needle)) pids.push(Number(p));
  }
  return pids;
}

async function killAll(needle: string): Promise<void> {
  for (const pid of await pidsWith(needle)) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
  const deadline = Date.now() + KUBELET_STOP_GRACE_MS;
  while ((await pidsWith(needle)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  for (const pid of await pidsWith(needle)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

/** A 10.211.N.0/30 no interface here has yet, for the node's veth. */
async function freeNodeOctet(): Promise<number> {
  const used = (await run('ip', ['-4', '-o', 'addr', 'show'])).stdout;
  for (let o = 100 + (process.pid % 100); ; o = o >= 250 ? 100 : o + 1) if (!used.includes(`10.211.${o}.`)) return o;
}

function ginkgoSkip(entries: readonly ListEntry[]): string {
  return entries.map((e) => e.source).join('|');
}

test('the upstream node e2e suite ([NodeConformance]) passes against critter but for known host and offline failures', { skip, timeout: SUITE_TIMEOUT_MS }, async (t) => {
  if (found.skip !== false) return;
  const bins = found.paths;
  const skips = parseReasonList(await readFile(join(dir, 'node-e2e-skips.txt'), 'utf8'), 'node-e2e-skips.txt');
  const known = parseReasonList(await readFile(join(dir, 'node-e2e-known-failures.txt'), 'utf8'), 'node-e2e-known-failures.txt', KNOWN_FAILURE_KINDS);
  const work = await mkdtemp(join(tmpdir(), 'critter-node-e2e-'));
  const reportDir = process.env.NODE_E2E_REPORT_DIR ?? join(work, 'report');
  await mkdir(reportDir, { recursive: true });
  const tag = work.slice(-6).toLowerCase().replace(/[^a-z0-9]/g, 'x');
  const runtimeCgroup = `critter-e2e-${tag}-runtime`;
  const absent = await absentHostPaths();
  const cgroupsBefore = await topCgroups();
  const kubeRulesBefore = (await kubeIptablesRules()).length > 0;
  let registry: RunningRegistry | undefined;
  let pd: PodDaemon | undefined;
  let addr: NodeAddress | undefined;
  try {
    registry = await startRegistry();
    const t0 = Date.now();
    const images = await pushNodeE2eImages(registry, bins.agnhost);
    t.diagnostic(`pushed ${Object.keys(images).length} stand-in image tags in ${Date.now() - t0} ms`);
    const { startPodDaemon } = await import('../integration/helpers/pod-network.ts');
    pd = await startPodDaemon({ registriesConf: registriesConfText(registry.host), defaultRoute: true, extraArgs: ['--log-level', 'info'] });
    // The kubelet reports the runtime's cgroup as the "runtime" system container (--runtime-cgroups).
    await makeCgroup(runtimeCgroup);
    await joinCgroup(runtimeCgroup, pd.daemon.proc.pid!);
    addr = await makeNodeAddress(tag.slice(-4), await freeNodeOctet());

    const binDir = join(work, 'k8s-bin');
    await mkdir(binDir);
    await symlink(bins.kubelet, join(binDir, 'kubelet'));
    const path = await pathWithout(join(work, 'path'));
    // The suite writes its kubeconfig, kubelet config and static pod dirs into its working
    // dir, which Ginkgo makes the dir of the test binary: a link in the test's own dir.
    await symlink(bins['e2e_node.test'], join(work, 'e2e_node.test'));
    const socket = `unix://${pd.daemon.dirs.socket}`;
    const kubeletFlags = [
      // The suite's cgroup root stays "/": the Kubelet Cgroup Manager specs look for /kubepods/….
      '--cgroup-driver=cgroupfs', `--runtime-cgroups=/${runtimeCgroup}`,
      '--fail-swap-on=false', '--cluster-domain=cluster.local', `--node-ip=${addr.ip}`,
      // A test VM's disk may be fuller than a node's: never evict the suite's pods for it.
      '--eviction-hard=memory.available<50Mi,nodefs.available<1%,imagefs.available<1%,nodefs.inodesFree<1%',
      '--image-gc-high-threshold=100', '--image-gc-low-threshold=99',
      ...(process.env.NODE_E2E_KUBELET_FLAGS ?? '').split(/\s+/).filter(Boolean),
    ];
    const focus = process.env.NODE_E2E_FOCUS;
    const args = [
      `--nodes=${process.env.NODE_E2E_NODES ?? '4'}`, `--timeout=${GINKGO_TIMEOUT}`, '--no-color', '--succinct',
      ...(focus ? [`--focus=${focus}`, '--label-filter=NodeConformance'] : ['--focus=\\[NodeConformance\\]']),
      `--skip=${ginkgoSkip(skips)}`, `--json-report=${join(reportDir, 'report.json')}`,
      join(work, 'e2e_node.test'), '--',
      `--container-runtime-endpoint=${socket}`, `--image-service-endpoint=${socket}`, `--k8s-bin-dir=${binDir}`,
      '--prepull-images=false', `--report-dir=${reportDir}`, `--node-name=${hostname()}`, '--dns-domain=cluster.local',
      ...kubeletFlags.map((f) => `--kubelet-flags=${f}`),
    ];
    await writeFile(join(reportDir, 'command.txt'), [bins.ginkgo, ...args].join(' \\\n  ') + '\n');
    t.diagnostic(`running ${bins.ginkgo} ${args.join(' ')}`);
    const out = createWriteStream(join(reportDir, 'ginkgo.log'));
    const proc = spawn(bins.ginkgo, args, { cwd: work, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: path } });
    proc.stdout.pipe(out, { end: false });
    proc.stderr.pipe(out, { end: false });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => { try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, SUITE_TIMEOUT_MS - 10 * 60_000);
      proc.once('exit', (c) => { clearTimeout(timer); resolve(c); });
    });
    await new Promise<void>((r) => out.end(r));
    await writeFile(join(reportDir, 'critter.log'), pd.daemon.logs());
    const text = await readFile(join(reportDir, 'ginkgo.log'), 'utf8');
    const reportJson = await readFile(join(reportDir, 'report.json'), 'utf8').catch(() => undefined);
    assert.ok(reportJson, `ginkgo exited ${code} without a JSON report\n--- last lines ---\n${text.split('\n').slice(-60).join('\n')}`);
    const runReport = parseGinkgoJsonReport(reportJson);
    const s = summarize(runReport);
    t.diagnostic(`node e2e: ran ${s.ran} specs: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped (ginkgo exit ${code}; report in ${reportDir})`);
    const { unexplained, explained, nowPassing } = classifyFailures(runReport, known);
    for (const [spec, entry] of explained) t.diagnostic(`known failure: ${spec.text} — ${entry.reason}`);
    for (const e of nowPassing) t.diagnostic(`known failure now passes, remove it from node-e2e-known-failures.txt: ${e.source}`);
    assert.ok(s.ran > 0 && s.passed > 0, `no spec passed\n--- last lines ---\n${text.split('\n').slice(-60).join('\n')}`);
    assert.deepEqual(unexplained.map((u) => `${u.text}: ${(u.failure ?? u.state).slice(0, 1500)}`), [],
      'these specs failed and node-e2e-known-failures.txt does not explain them: critter\'s failures to fix');
  } finally {
    const left: string[] = [];
    // The suite stops its kubelet; one left by an interrupted run is found by its config path.
    await killAll(join(work, 'kubelet-config'));
    await pd?.close().catch((err: unknown) => left.push(`daemon cleanup failed: ${String(err)}`));
    if (pd) {
      const conmons = await pidsWith(pd.daemon.dirs.base);
      if (conmons.length > 0) left.push(`processes of the test's daemon still run: ${conmons.join(', ')}`);
    }
    await removeHostPaths(absent);
    left.push(...(await removeNewCgroups(cgroupsBefore, [...KUBELET_HOST_CGROUPS, runtimeCgroup])).map((c) => `cgroup ${c}`));
    if (!kubeRulesBefore) await removeKubeIptablesRules();
    await addr?.cleanup();
    await registry?.stop();
    for (const p of absent) if ((await mountsUnder(p)).length > 0) left.push(`mounts under ${p}`);
    if (!kubeRulesBefore && (await kubeIptablesRules()).length > 0) left.push('KUBE-* iptables rules');
    await rm(work, { recursive: true, force: true }); // the report too, unless NODE_E2E_REPORT_DIR put it elsewhere
    leftovers = left;
  }
});

test('the node e2e run leaves the host as it was', { skip }, () => {
  if (leftovers === undefined) return;
  assert.deepEqual(leftovers, []);
});

test('parseReasonList() gives every node e2e skip and known failure a reason of its kind', async () => {
  const known = parseReasonList(await readFile(join(dir, 'node-e2e-known-failures.txt'), 'utf8'), 'known', KNOWN_FAILURE_KINDS);
  const skips = parseReasonList(await readFile(join(dir, 'node-e2e-skips.txt'), 'utf8'), 'skips');
  assert.ok(skips.length > 0 && known.length > 0);
  assert.throws(() => parseReasonList('some spec\n', 'f'), /gives no reason/);
  assert.throws(() => parseReasonList('some spec # critter: it is broken today\n', 'f', ['host:', 'offline:']), /must start with one of/);
});

test('parseGinkgoJsonReport() and classifyFailures() tell known failures from the others', () => {
  const spec = (texts: string[], leaf: string, state: string, msg?: string): Record<string, unknown> =>
    ({ ContainerHierarchyTexts: texts, LeafNodeText: leaf, LeafNodeType: 'It', State: state, ...(msg ? { Failure: { Message: msg, Location: { FileName: 'x.go', LineNumber: 3 } } } : {}) });
  const report = JSON.stringify([{ SpecReports: [
    { LeafNodeType: 'SynchronizedBeforeSuite', State: 'passed' },
    spec(['[sig-node] Pods'], 'should run [NodeConformance]', 'passed'),
    spec(['[sig-node] Net'], 'needs a dummy link [NodeConformance]', 'failed', 'no dummy'),
    spec(['[sig-node] Exec'], 'streams [NodeConformance]', 'timedout', 'took too long'),
    spec(['[sig-node] Slow'], 'waits [Slow]', 'skipped'),
  ] }]);
  const run = parseGinkgoJsonReport(report);
  assert.deepEqual(summarize(run), { ran: 3, passed: 1, failed: 2, skipped: 1 });
  const known = parseReasonList('dummy link # host: no dummy netdev here\nshould run # host: an entry whose spec passes\n', 'k', ['host:']);
  const c = classifyFailures(run, known);
  assert.deepEqual(c.unexplained.map((s) => [s.text, s.failure]), [['[sig-node] Exec streams [NodeConformance]', 'took too long (x.go:3)']]);
  assert.deepEqual(c.explained.map(([s]) => s.text), ['[sig-node] Net needs a dummy link [NodeConformance]']);
  assert.deepEqual(c.nowPassing.map((e) => e.source), ['should run']);
});
