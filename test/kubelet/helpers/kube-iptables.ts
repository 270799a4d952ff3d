/**
 * The kubelet and kube-proxy leave iptables chains behind when they stop (the kubelet's
 * KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT; kube-proxy's service chains), and
 * KUBE-FIREWALL drops traffic to 127.0.0.0/8 from elsewhere. Tests that ran them put the host
 * back with this.
 */
import { run } from '../../../src/lib/exec.ts';

const TOOLS = ['iptables', 'ip6tables'] as const;

/** Every KUBE-* rule and chain, without counters, of both families (comparable before and after). */
export async function kubeIptablesRules(): Promise<string[]> {
  const out: string[] = [];
  for (const tool of TOOLS) {
    const dump = (await run(`${tool}-save`, [])).stdout;
    out.push(...dump.split('\n').filter((l) => l.includes('KUBE-')).map((l) => `${tool}: ${l.replace(/\[\d+:\d+\]/g, '')}`));
  }
  return out.sort();
}

/**
 * Removes every KUBE-* rule and chain: the current rules minus those lines, restored as a
 * whole (one atomic replace per table, so no other rule of the host is touched).
 */
export async function removeKubeIptablesRules(): Promise<void> {
  for (const tool of TOOLS) {
    const dump = (await run(`${tool}-save`, [])).stdout;
    if (!dump.includes('KUBE-')) continue;
    const kept = dump.split('\n').filter((l) => !l.includes('KUBE-')).join('\n');
    await run(`${tool}-restore`, [], { input: kept });
  }
}
