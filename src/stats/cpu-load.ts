/**
 * cAdvisor's container_cpu_load_average_10s: an exponentially damped average of a cgroup's
 * running threads, updated at every sample with decay e^(−Δt/10 s), started at the first
 * sample's count "for faster stabilization" (cAdvisor manager/container.go updateLoad). It
 * decays by the time really elapsed, since samples also come on demand between ticks.
 * Exported, as cAdvisor does, in thousandths of a thread ("milliLoad").
 */
const WINDOW_NS = 10_000_000_000;

export class LoadAverages {
  readonly #avg = new Map<string, { load: number; atNs: bigint }>();

  push(key: string, running: number, atNs: bigint): void {
    const prev = this.#avg.get(key);
    if (!prev || atNs <= prev.atNs) {
      if (!prev) this.#avg.set(key, { load: running, atNs });
      return;
    }
    const decay = Math.exp(-Number(atNs - prev.atNs) / WINDOW_NS);
    this.#avg.set(key, { load: prev.load * decay + running * (1 - decay), atNs });
  }

  /** The average in milliLoad; undefined before the first sample. */
  milliLoad(key: string): number | undefined {
    const a = this.#avg.get(key);
    return a === undefined ? undefined : Math.round(a.load * 1000);
  }

  retain(live: ReadonlySet<string>): void {
    for (const key of this.#avg.keys()) if (!live.has(key)) this.#avg.delete(key);
  }
}
