/**
 * The kubelet and kube-proxy leave iptables chains behind when they stop (the kubelet's
 * KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT; kube-proxy's service chains), and
 * KUBE-FIREWALL drops traffic to 127.0.0.0/8 from elsewhere. Tests that ran them put the host
 * back with this.
 */
import { run, runAllowFailure } from '../../../src/lib/exec.ts';

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

/** `iptables -S` arguments: split on spaces, double-quoted strings (comments) kept whole. */
export function splitRuleArgs(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/**
 * Removes every KUBE-* rule and chain, one rule at a time: the jumps into them from the
 * built-in chains, then the chains themselves. Never a save-and-restore of whole tables,
 * which would race with any other program changing rules meanwhile (a CNI plugin).
 */
export async function removeKubeIptablesRules(): Promise<void> {
  for (const tool of TOOLS) {
    for (const table of ['filter', 'nat', 'mangle', 'raw']) {
      const rules = (await runAllowFailure(tool, ['-t', table, '-S'])).stdout.split('\n');
      for (const line of rules) {
        if (!line.startsWith('-A ')) continue;
        const args = splitRuleArgs(line);
        const jumpsToKube = args.some((a, i) => (args[i - 1] === '-j' || args[i - 1] === '-g') && a.startsWith('KUBE-'));
        if (jumpsToKube && !args[1]!.startsWith('KUBE-')) await runAllowFailure(tool, ['-t', table, '-D', ...args.slice(1)]);
      }
      const chains = rules.filter((l) => l.startsWith('-N KUBE-')).map((l) => l.slice(3).trim());
      for (const c of chains) await runAllowFailure(tool, ['-t', table, '-F', c]);
      for (const c of chains) await runAllowFailure(tool, ['-t', table, '-X', c]);
    }
  }
}
