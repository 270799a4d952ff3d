/**
 * The CNI network configuration: the first loadable file in the conf dir, in lexical
 * order, among `*.conflist`, `*.conf` and `*.json` (libcni ConfFiles + the kubelet's
 * "first one wins" rule). The dir is watched, so installing, changing or removing a
 * config flips NetworkReady and changes the network used by pods created afterwards;
 * running pods keep the config they were attached with (it is cached with the result).
 * containerd: internal/cri/server/cni_conf_syncer.go.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface CniNetworkConfig {
  name: string;
  cniVersion: string;
  plugins: CniPluginConf[];
  disableCheck?: boolean;
  disableGC?: boolean;
  /** File it came from, for messages and verbose status. */
  source: string;
}

export interface NetworkReadiness {
  ready: boolean;
  /** CamelCase, as the kubelet shows it: `NetworkPluginNotReady`. */
  reason: string;
  message: string;
}

export interface CniConfigSource {
  current(): CniNetworkConfig | undefined;
  readiness(): NetworkReadiness;
}

const CONF_EXTENSIONS = ['.conflist', '.conf', '.json'];

/** Parses one file; a single-plugin `.conf` becomes a list of one, as libcni ConfListFromConf does. */
export function parseCniConfig(source: string, text: string): CniNetworkConfig {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const name = raw['name'];
  if (typeof name !== 'string' || name === '') throw new Error(`${source}: "name" is missing`);
  const cniVersion = typeof raw['cniVersion'] === 'string' ? raw['cniVersion'] : '0.2.0';
  if (source.endsWith('.conflist')) {
    const plugins = raw['plugins'];
    if (!Array.isArray(plugins) || plugins.length === 0) throw new Error(`${source}: "plugins" must be a non-empty list`);
    for (const [i, p] of plugins.entries()) {
      if (typeof (p as CniPluginConf)?.type !== 'string') throw new Error(`${source}: plugins[${i}].type is missing`);
    }
    return {
      name, cniVersion, plugins: plugins as CniPluginConf[], source,
      disableCheck: raw['disableCheck'] === true, disableGC: raw['disableGC'] === true,
    };
  }
  if (typeof raw['type'] !== 'string') throw new Error(`${source}: "type" is missing`);
  const { name: _n, cniVersion: _v, ...plugin } = raw;
  return { name, cniVersion, plugins: [plugin as CniPluginConf], source };
}

/** Reads the conf dir and returns the first config that parses; logs the ones that do not. */
async function loadFirstCniConfig(confDir: string, log: Logger): Promise<CniNetworkConfig | undefined> {
  let names: string[];
  try {
    names = await readdir(confDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  for (const name of names.filter((n) => CONF_EXTENSIONS.some((e) => n.endsWith(e))).sort()) {
    const file = join(confDir, name);
    try {
      return parseCniConfig(file, await readFile(file, 'utf8'));
    } catch (err) {
      log.warn({ file, err: err instanceof Error ? err.message : String(err) }, 'Skipping unusable CNI config');
    }
  }
  return undefined;
}

export interface CniConfigWatcherDeps {
  confDir: string;
  log: Logger;
  /** Editors write in several steps; wait this long after the last event. */
  debounceMs?: number;
}

export class CniConfigWatcher implements CniConfigSource {
  #deps: CniConfigWatcherDeps;
  #config: CniNetworkConfig | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> = Promise.resolve();
  #listeners: Array<(config: CniNetworkConfig | undefined) => void> = [];

  constructor(deps: CniConfigWatcherDeps) {
    this.#deps = deps;
  }

  /** Loads the current config and starts watching; creates the dir so it can be watched. */
  async start(): Promise<void> {
    await mkdir(this.#deps.confDir, { recursive: true, mode: 0o755 });
    await this.reload();
    this.#watcher = watch(this.#deps.confDir, () => this.#schedule());
    this.#watcher.on('error', (err) => this.#deps.log.error({ err: err.message, dir: this.#deps.confDir }, 'CNI conf dir watch failed'));
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  current(): CniNetworkConfig | undefined {
    return this.#config;
  }

  readiness(): NetworkReadiness {
    if (this.#config) return { ready: true, reason: '', message: '' };
    return {
      ready: false,
      reason: 'NetworkPluginNotReady',
      message: `Network plugin returns error: no CNI configuration file in ${this.#deps.confDir}`,
    };
  }

  /** Called with the new config after every change (tests wait on this). */
  onChange(listener: (config: CniNetworkConfig | undefined) => void): void {
    this.#listeners.push(listener);
  }

  /** Re-reads the dir now (serialised with the watcher's reloads). */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(async () => {
      const next = await loadFirstCniConfig(this.#deps.confDir, this.#deps.log).catch((err: unknown) => {
        this.#deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'Reading CNI conf dir failed');
        return undefined;
      });
      const before = this.#config;
      this.#config = next;
      if (JSON.stringify(before) !== JSON.stringify(next)) {
        this.#deps.log.info({ network: next?.name, file: next?.source }, next ? 'CNI network config loaded' : 'No CNI network config');
        for (const l of this.#listeners) l(next);
      }
    });
    return this.#reloading;
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reload(), this.#deps.debounceMs ?? 200);
  }
}
