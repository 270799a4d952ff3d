/**
 * usage_nano_cores from two readings of cumulative CPU time (cri-api.md item 29: the
 * runtime computes it; containerd 2.3 keeps a background collector for it). Each key
 * keeps its last reading and the rate over the last window.
 */
export interface CpuReading {
  cpuNs: bigint;
  atNs: bigint;
}

interface RateEntry {
  last: CpuReading;
  nanoCores: number | undefined;
}

/** Rate between two readings; undefined when the window is empty or time went back. */
export function nanoCoresBetween(a: CpuReading, b: CpuReading): number | undefined {
  const dt = b.atNs - a.atNs;
  if (dt <= 0n) return undefined;
  // A counter that went down (a container left the pod's sum) gives no rate, not a negative one.
  const dc = b.cpuNs - a.cpuNs;
  if (dc < 0n) return undefined;
  return Number((dc * 1_000_000_000n) / dt);
}

export class CpuRates {
  readonly #entries = new Map<string, RateEntry>();

  /** Records a reading; returns the rate over the window that ends with it. */
  push(key: string, reading: CpuReading): number | undefined {
    const prev = this.#entries.get(key);
    const nanoCores = prev ? nanoCoresBetween(prev.last, reading) ?? prev.nanoCores : undefined;
    this.#entries.set(key, { last: reading, nanoCores });
    return nanoCores;
  }

  /** The rate of the last full window, if there was one. */
  rate(key: string): number | undefined {
    return this.#entries.get(key)?.nanoCores;
  }

  /** The last reading, so a caller can compute a rate up to "now" before the second tick. */
  last(key: string): CpuReading | undefined {
    return this.#entries.get(key)?.last;
  }

  /** Forgets keys not in `live` (removed containers and pods). */
  retain(live: ReadonlySet<string>): void {
    for (const key of this.#entries.keys()) if (!live.has(key)) this.#entries.delete(key);
  }
}
