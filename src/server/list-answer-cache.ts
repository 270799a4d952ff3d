/**
 * The answers of ListContainers and ListPodSandbox, kept while nothing they list changed.
 * The kubelet lists both every second (PLEG relist); at 100 pods each call cost critter
 * 0.7-1.0 ms of CPU against containerd's 0.4 ms, most of it mapping records to CRI
 * entries and encoding 100 of them again although nothing had changed. While the records'
 * generation (state/record-store.ts) and the request's filter are the same, the same answer
 * object is handed out again, and `encodeOnce` keeps the bytes grpc-js encoded it to, so it
 * is not encoded again either. Answer objects are never changed after they are handed out.
 */

/** Filters longer than this (a huge label selector) are answered without the cache. */
const MAX_KEY_LENGTH = 1024;
/** Distinct filters kept (the kubelet uses a handful: none, by pod, by state). */
const MAX_KEYS = 16;

export class ListAnswerCache<T extends object> {
  readonly #entries = new Map<string, { generation: number; answer: T }>();

  /** The answer for `filter` at `generation`: the kept one, or `build()`'s (then kept). */
  get(filter: unknown, generation: number, build: () => T): T {
    const key = JSON.stringify(filter ?? null);
    if (key.length > MAX_KEY_LENGTH) return build();
    const hit = this.#entries.get(key);
    if (hit?.generation === generation) return hit.answer;
    const answer = build();
    // Re-inserted last: the Map's order is the entries' age, the oldest goes first.
    this.#entries.delete(key);
    this.#entries.set(key, { generation, answer });
    if (this.#entries.size > MAX_KEYS) this.#entries.delete(this.#entries.keys().next().value!);
    return answer;
  }
}

const encodedAnswers = new WeakMap<object, Buffer>();

/**
 * `serialize` that encodes each answer object once: an answer handed out again by a
 * ListAnswerCache goes out as the bytes of its first encoding (grpc-js copies them into
 * its frame and never changes them).
 */
export function encodeOnce(serialize: (value: unknown) => Buffer): (value: unknown) => Buffer {
  return (value) => {
    if (typeof value !== 'object' || value === null) return serialize(value);
    let bytes = encodedAnswers.get(value);
    if (bytes === undefined) {
      bytes = serialize(value);
      encodedAnswers.set(value, bytes);
    }
    return bytes;
  };
}
