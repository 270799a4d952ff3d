/**
 * Pod sandbox lifecycle cost (issue "Pod sandboxes and CNI networking", benchmark item):
 * RunPodSandbox for every pod, then StopPodSandbox for each, then RemovePodSandbox for
 * each, so each RPC's p50/p90 is taken over `iterations` pods. The endpoint needs a CNI
 * network (the bench runner writes a private one into the conf dirs it knows about);
 * set-up waits until the endpoint reports NetworkReady.
 */
import { randomBytes } from 'node:crypto';
import type { Scenario } from '../harness.ts';
import { waitForNetworkReady } from './workload.ts';

/** A minimal pod as the kubelet sends it for a plain Deployment replica: pod network, cgroupfs parent unset. */
function benchPod(run: string, i: number): Record<string, unknown> {
  const name = `bench-${run}-${i}`;
  return {
    metadata: { name, namespace: 'critter-bench', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'critter-bench', app: 'bench' },
    annotations: { 'kubernetes.io/config.source': 'api' },
    dns_config: { servers: ['10.96.0.10'], searches: ['critter-bench.svc.cluster.local'], options: ['ndots:5'] },
    linux: { security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 } } },
  };
}

export const pods: Scenario = {
  name: 'pods',
  describe: 'RunPodSandbox for N pods on a CNI bridge network, then StopPodSandbox and RemovePodSandbox for each',
  async setup(client) {
    await waitForNetworkReady(client);
  },
  async run(client, iterations, time) {
    const run = randomBytes(3).toString('hex');
    const ids: string[] = [];
    try {
      for (let i = 0; i < iterations; i++) {
        const res = await time('RunPodSandbox', () => client.call('RunPodSandbox', { config: benchPod(run, i) }, { deadlineMs: 120_000 }));
        ids.push(res.pod_sandbox_id as string);
      }
      for (const id of ids) await time('StopPodSandbox', () => client.call('StopPodSandbox', { pod_sandbox_id: id }, { deadlineMs: 120_000 }));
      for (const id of ids.splice(0)) await time('RemovePodSandbox', () => client.call('RemovePodSandbox', { pod_sandbox_id: id }, { deadlineMs: 120_000 }));
    } finally {
      // A failed run must not leave pods (and their IPs) behind on the endpoint.
      for (const id of ids) {
        await client.call('StopPodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
        await client.call('RemovePodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
      }
    }
  },
};
