/**
 * Content digests ("sha256:<hex>", OCI image-spec descriptor.md) and chain IDs
 * (image-spec config.md "Layer ChainID"), plus the counting/hashing stage the ingest
 * stream runs through.
 */
import { createHash, type Hash } from 'node:crypto';
import { InvalidArgumentError } from '../lib/errors.ts';

const DIGEST_RE = /^(sha256|sha384|sha512):([a-f0-9]+)$/;
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha384' | 'sha512';
  hex: string;
}

/**
 * Parses "alg:hex".
 * @throws InvalidArgumentError naming the value when it is malformed
 */
export function parseDigest(digest: string, what = 'digest'): ParsedDigest {
  const m = DIGEST_RE.exec(digest);
  if (!m || m[2]?.length !== HEX_LENGTH[m[1] as string]) throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(digest)}`);
  return { algorithm: m[1] as ParsedDigest['algorithm'], hex: m[2] as string };
}

/** A 64-hex id (layer or image id); also accepts "sha256:<hex>" and returns the hex. */
export function toHexId(id: string, what: string): string {
  const hex = id.startsWith('sha256:') ? id.slice('sha256:'.length) : id;
  if (!/^[a-f0-9]{64}$/.test(hex)) throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(id)}`);
  return hex;
}

/** Layer id: chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)), as hex. */
export function chainIdOf(parentChainHex: string | null, diffId: string): string {
  const diff = parseDigest(diffId, 'diffID');
  if (parentChainHex === null) {
    if (diff.algorithm !== 'sha256') throw new InvalidArgumentError(`diffID ${diffId} must be sha256 to be a layer id`);
    return diff.hex;
  }
  return createHash('sha256').update(`sha256:${parentChainHex} ${diffId}`).digest('hex');
}

/** Hashes and counts the bytes that flow through. */
export class DigestCounter {
  readonly algorithm: ParsedDigest['algorithm'];
  #hash: Hash;
  bytes = 0;

  constructor(algorithm: ParsedDigest['algorithm']) {
    this.algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  /** Passes `source` through unchanged while hashing it. */
  async *tap(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.#hash.update(chunk);
      this.bytes += chunk.length;
      yield chunk;
    }
  }

  /** "alg:hex" of everything that went through; call once, after the stream ended. */
  digest(): string {
    return `${this.algorithm}:${this.#hash.digest('hex')}`;
  }
}
