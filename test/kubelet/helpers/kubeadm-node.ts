/**
 * A single-node kubeadm cluster on critter for the kubeadm test, and everything needed to
 * take it away again: control-plane images built from the developer's binaries and served by
 * the local registry under their registry.k8s.io names, a node address on a veth whose peer
 * lives in a network namespace of the test's own (nothing leaves the machine), the kubelet
 * started by the test where kubeadm would ask systemd, and a reset that leaves the host's
 * files, mounts, cgroups and iptables rules as they were.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { access, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runAllowFailure } from '../../../src/lib/exec.ts';
import { buildImage, type BlobCache } from '../../fixtures/image-builder.ts';
import { pushImage } from '../../fixtures/image-push.ts';
import type { RegistryEndpoint } from '../../fixtures/registry.ts';
import { staticBinary } from '../../critest/upstream-images.ts';
import { unmountAllUnder } from '../../integration/helpers/mounts.ts';
import { deployDocs, docOfKind } from './deploy-config.ts';
import { removeKubeIptablesRules } from './kube-iptables.ts';
import { hostBinaryLayer, hostIptables, type HostBinary } from './host-binary-image.ts';

export const KUBERNETES_VERSION = 'v1.33.3';
/** What kubeadm writes on the host; the test refuses to run where any of it already exists. */
export const KUBEADM_HOST_PATHS = ['/etc/kubernetes', '/var/lib/kubelet', '/var/lib/etcd'] as const;
/** Left by kube-proxy's hostPath volumes when absent before (containerd and CRI-O create them too). */
export const KUBE_PROXY_HOST_PATHS = ['/lib/modules', '/run/xtables.lock'] as const;
const CONTROL_PLANE_PORTS = [6443, 2379, 2380, 10250, 10257, 10259, 10249, 10256, 10248];

export type ControlPlaneBinaries = Record<'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kube-proxy' | 'etcd', string>;

/** Why this host cannot run the kubeadm test, or undefined when it can. */
export async function kubeadmHostProblem(): Promise<string | undefined> {
  for (const p of KUBEADM_HOST_PATHS) {
    if (await access(p).then(() => true, () => false)) return `${p} exists: this host already is (or was) a Kubernetes node`;
  }
  const listening = (await run('ss', ['-Htln'])).stdout;
  const busy = CONTROL_PLANE_PORTS.filter((p) => new RegExp(`:${p}\\s`).test(listening));
  return busy.length > 0 ? `ports ${busy.join(', ')} are in use` : undefined;
}

/**
 * Builds and pushes every image `kubeadm config images list` names, except CoreDNS (not in
 * the Kubernetes tree, so it cannot be built offline: the test skips that addon).
 */
export async function pushControlPlaneImages(registry: RegistryEndpoint, kubeadm: string, bins: ControlPlaneBinaries, cache: BlobCache): Promise<string[]> {
  const list = (await run(kubeadm, ['config', 'images', 'list', '--kubernetes-version', KUBERNETES_VERSION, '--image-repository', 'registry.k8s.io'])).stdout
    .split('\n').map((l) => l.trim()).filter(Boolean);
  const iptables = await hostIptables();
  const pushed: string[] = [];
  for (const ref of list) {
    const path = ref.replace(/^registry\.k8s\.io\//, '');
    const [repo, tag] = path.split(':') as [string, string];
    const name = repo.split('/').pop()!;
    let binaries: HostBinary[];
    let symlinks: Record<string, string> = {};
    if (name === 'coredns') continue;
    if (name === 'pause') binaries = [{ source: await staticBinary('pause', cache), dest: '/pause' }];
    else if (name === 'kube-proxy') {
      binaries = [{ source: bins['kube-proxy'], dest: '/usr/local/bin/kube-proxy' }, ...iptables.binaries];
      symlinks = iptables.symlinks;
    } else if (name in bins) binaries = [{ source: bins[name as keyof ControlPlaneBinaries], dest: `/usr/local/bin/${name}` }];
    else throw new Error(`kubeadm lists ${ref}, which the test cannot build`);
    const layer = await hostBinaryLayer(binaries, symlinks);
    const image = await buildImage({ layers: [layer], config: name === 'pause' ? { Entrypoint: ['/pause'] } : {}, cache });
    await pushImage(registry, repo, tag, image);
    pushed.push(ref);
  }
  return pushed;
}

export interface NodeAddress {
  ip: string;
  cleanup(): Promise<void>;
}

/** A host-side veth address (the node IP) whose peer sits in a namespace the test owns. */
export async function makeNodeAddress(tag: string, octet: number): Promise<NodeAddress> {
  const ns = `crt-kadm-${tag}`;
  const host = `crtk${tag}`.slice(0, 15);
  const ip = `10.211.${octet}.1`;
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run('ip', ['addr', 'add', `${ip}/30`, 'dev', host]);
  await run('ip', ['link', 'set', host, 'up']);
  await run('ip', ['-n', ns, 'addr', 'add', `10.211.${octet}.2/30`, 'dev', 'eth0']);
  await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  return {
    ip,
    async cleanup() {
      await runAllowFailure('ip', ['link', 'del', host]);
      await runAllowFailure('ip', ['netns', 'del', ns]);
    },
  };
}

export interface KubeadmConfigInput {
  nodeName: string;
  nodeIp: string;
  socket: string;
  podSubnet: string;
}

/**
 * deploy/kubelet/kubeadm-init.yaml with the test node's own values: its name and address,
 * critter's test socket, the test network's subnet, and what this VM needs.
 */
export async function kubeadmConfig(i: KubeadmConfigInput): Promise<string> {
  const docs = await deployDocs('kubeadm-init.yaml');
  const init = docOfKind(docs, 'InitConfiguration');
  init.localAPIEndpoint = { advertiseAddress: i.nodeIp, bindPort: 6443 };
  Object.assign(init.nodeRegistration, {
    name: i.nodeName, criSocket: `unix://${i.socket}`,
    kubeletExtraArgs: [{ name: 'node-ip', value: i.nodeIp }],
    // Host facts, not critter's: this VM has no kernel config or modules to verify.
    ignorePreflightErrors: ['SystemVerification', 'Swap'],
  });
  const cluster = docOfKind(docs, 'ClusterConfiguration');
  cluster.kubernetesVersion = KUBERNETES_VERSION;
  cluster.networking.podSubnet = i.podSubnet;
  Object.assign(docOfKind(docs, 'KubeletConfiguration'), {
    containerRuntimeEndpoint: `unix://${i.socket}`,
    failSwapOn: false,
    // A test VM's disk may be fuller than a node's: never evict the test's pods for it.
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 100, imageGCLowThresholdPercent: 99,
  });
  // A test leaves the host's conntrack table size as it is.
  docOfKind(docs, 'KubeProxyConfiguration').conntrack = { maxPerCore: 0 };
  return docs.map((d) => JSON.stringify(d, null, 2)).join('\n---\n');
}

/** The kubelet as its systemd unit would run it under kubeadm (kubeadm's 10-kubeadm.conf drop-in). */
export async function startKubeadmKubelet(kubelet: string, logFile: string): Promise<ChildProcess> {
  const env = await readFile('/var/lib/kubelet/kubeadm-flags.env', 'utf8');
  const m = /KUBELET_KUBEADM_ARGS="([^"]*)"/.exec(env);
  const flags = m ? m[1]!.split(/\s+/).filter(Boolean) : [];
  const args = ['--pdeathsig', 'SIGKILL', '--', kubelet, '--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf',
    '--kubeconfig=/etc/kubernetes/kubelet.conf', '--config=/var/lib/kubelet/config.yaml', ...flags];
  const out = createWriteStream(logFile);
  const proc = spawn('/usr/bin/setpriv', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.pipe(out);
  proc.stderr.pipe(out);
  return proc;
}

/** Removes the kubelet's cgroups (`/kubepods` in every hierarchy), children first. */
export async function removeKubepodsCgroups(): Promise<void> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!);
  for (const m of mounts) await runAllowFailure('find', [join(m, 'kubepods'), '-depth', '-type', 'd', '-exec', 'rmdir', '{}', ';']);
}

/** What `kubeadm reset` leaves that the test must take away itself (kubeadm says so in its own output). */
export async function finishReset(opts: { kubeProxy: string; createdByTest: readonly string[] }): Promise<void> {
  await runAllowFailure(opts.kubeProxy, ['--cleanup']);
  await removeKubeIptablesRules();
  await unmountAllUnder('/var/lib/kubelet');
  for (const p of [...KUBEADM_HOST_PATHS, ...opts.createdByTest]) await rm(p, { recursive: true, force: true });
  await removeKubepodsCgroups();
}
