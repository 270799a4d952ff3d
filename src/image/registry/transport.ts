/**
 * HTTP connection pools per registry host with that host's TLS settings (docker
 * `certs.d` layout, as containers/image and containerd read it):
 * `<certsDir>/<host[:port]>/*.crt` are extra CAs added to the system ones, and each
 * `name.cert` + `name.key` pair is a client certificate. Insecure hosts skip verification.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { Agent } from 'undici';
import { UnavailableError } from '../../lib/errors.ts';

interface TlsFiles {
  ca: string[];
  cert?: string;
  key?: string;
}

/** Reads the certs.d directory of one host; a missing directory means defaults. */
async function readHostTls(certsDir: string, host: string): Promise<TlsFiles> {
  const dir = join(certsDir, host);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ca: [] };
    throw err;
  }
  const files: TlsFiles = { ca: [] };
  for (const name of names) {
    if (name.endsWith('.crt')) files.ca.push(await readFile(join(dir, name), 'utf8'));
    if (name.endsWith('.cert')) {
      const keyName = `${name.slice(0, -'.cert'.length)}.key`;
      if (!names.includes(keyName)) {
        throw new UnavailableError(`registry ${host}: client certificate ${join(dir, name)} has no matching ${keyName}`);
      }
      // NOTE: one client pair is used, the first in lexical order (docker uses the first that loads).
      if (files.cert === undefined) {
        files.cert = await readFile(join(dir, name), 'utf8');
        files.key = await readFile(join(dir, keyName), 'utf8');
      }
    }
  }
  return files;
}

/** Owns one undici Agent per (host, verification) pair; `close()` ends them all. */
export class RegistryTransport {
  readonly #certsDir: string;
  readonly #agents = new Map<string, Promise<Agent>>();

  constructor(deps: { certsDir: string }) {
    this.#certsDir = deps.certsDir;
  }

  /** The pool for `host` (`name[:port]`); `skipVerify` for insecure registries over HTTPS. */
  agentFor(host: string, skipVerify: boolean): Promise<Agent> {
    const key = `${host}|${skipVerify}`;
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      agent = this.#createAgent(host, skipVerify);
      this.#agents.set(key, agent);
      // A failed read (for example a half-written key file) must not be cached forever.
      agent.catch(() => this.#agents.delete(key));
    }
    return agent;
  }

  async #createAgent(host: string, skipVerify: boolean): Promise<Agent> {
    const tls = await readHostTls(this.#certsDir, host);
    // Loaded on the first pull: undici is the largest module the daemon uses (~5 MiB of
    // heap), and a node whose images are all present never needs it (issue 5, memory).
    const { Agent } = await import('undici');
    return new Agent({
      connect: {
        // Passing `ca` replaces Node's bundle, so the system roots are added back.
        ca: tls.ca.length > 0 ? [...rootCertificates, ...tls.ca] : undefined,
        cert: tls.cert,
        key: tls.key,
        rejectUnauthorized: !skipVerify,
      },
    });
  }

  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.allSettled(agents.map(async (a) => (await a).close()));
  }
}
