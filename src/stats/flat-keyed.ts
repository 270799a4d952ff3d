/** The kernel's flat keyed files, shared by the cgroup readers. */
/** `key value` lines (memory.stat, cpu.stat) as a map. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) out.set(k, Number(v));
  }
  return out;
}
