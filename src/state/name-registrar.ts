/**
 * Name → id reservations (containerd's registrar, CRI-O's ResourceStore names). A name is
 * reserved before any work starts, so two RunPodSandbox calls for the same pod never
 * build two pods; the caller decides whether a holder is a retry (same id returned) or a
 * real clash (AlreadyExists). Reservations live in memory and are rebuilt from records
 * at start-up, so a crash never leaves a name reserved forever (user-asks #4).
 */
export class NameRegistrar {
  #byName = new Map<string, string>();

  /** Reserves `name` for `id`; returns the id already holding it, or undefined on success. */
  reserve(name: string, id: string): string | undefined {
    const holder = this.#byName.get(name);
    if (holder !== undefined && holder !== id) return holder;
    this.#byName.set(name, id);
    return undefined;
  }

  /** Releases `name` if `id` holds it (a stale release never frees someone else's name). */
  release(name: string, id: string): void {
    if (this.#byName.get(name) === id) this.#byName.delete(name);
  }

  holderOf(name: string): string | undefined {
    return this.#byName.get(name);
  }
}
