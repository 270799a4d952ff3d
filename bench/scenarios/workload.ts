/** The pods and `sleep` containers benchmark scenarios create, the same for every runtime. */
import type { CriClient } from '../../test/integration/helpers/cri-client.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A created pod: its id and the config CreateContainer must repeat. */
export interface BenchPod {
  id: string;
  config: Any;
}

const DEADLINE = { deadlineMs: 120_000 };

const NETWORK_READY_TIMEOUT_MS = 15_000;

/** Waits for Status to report NetworkReady (pods on the CNI network need it). */
export async function waitForNetworkReady(client: CriClient): Promise<void> {
  const deadline = Date.now() + NETWORK_READY_TIMEOUT_MS;
  for (;;) {
    const s = await client.call('Status', {});
    if ((s.status.conditions as { type: string; status: boolean }[]).some((c) => c.type === 'NetworkReady' && c.status)) return;
    if (Date.now() > deadline) throw new Error(`the endpoint did not report NetworkReady within ${NETWORK_READY_TIMEOUT_MS} ms: give it a CNI network (--compare-cni-conf-dir)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** NamespaceMode.NODE: the pod shares the host's network namespace. */
const NODE = 2;

/**
 * RunPodSandbox of a labelled pod logging into `logDir`. A host-network pod gets no
 * hostname (it has no UTS namespace of its own, and runc ≥ 1.2 refuses to set one there);
 * `cgroupParent` (cgroupfs form) gives it a pod cgroup, which containerd's
 * ListPodSandboxStats needs.
 */
export async function runBenchPod(client: CriClient, name: string, logDir: string, namespaceOptions: { network?: number }, cgroupParent?: string): Promise<BenchPod> {
  const config = {
    metadata: { name, namespace: 'critter-bench', uid: `uid-${name}`, attempt: 0 },
    ...(namespaceOptions.network === NODE ? {} : { hostname: name }),
    log_directory: logDir,
    labels: { 'io.kubernetes.pod.name': name },
    linux: { security_context: { namespace_options: namespaceOptions }, ...(cgroupParent ? { cgroup_parent: cgroupParent } : {}) },
  };
  const r = await client.call('RunPodSandbox', { config }, DEADLINE);
  return { id: r.pod_sandbox_id as string, config };
}

/** CreateContainer of `sleep 3600` from `image` in `pod`. */
export async function createSleeper(client: CriClient, pod: BenchPod, name: string, image: string, namespaceOptions: object): Promise<string> {
  const config = {
    metadata: { name, attempt: 0 },
    image: { image },
    command: ['sleep', '3600'],
    log_path: `${pod.config.metadata.name}-${name}.log`,
    linux: { security_context: { namespace_options: namespaceOptions } },
  };
  return (await client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config }, DEADLINE)).container_id as string;
}
