/**
 * Pod networking through CNI plugins (CNI SPEC.md; libcni's AddNetworkList /
 * DelNetworkList / GCNetworkList are the model). Every ADD is recorded in a cache file
 * before the plugins run and completed with their result afterwards, so DEL always gets
 * the config and prevResult the pod was attached with, even after the conf dir changed
 * or the daemon restarted, and start-up GC can find attachments of pods that are gone
 * (user-asks #5: every ADD is matched by a DEL).
 */
import { mkdir, readdir, rm, access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { readJsonIfExists, writeJsonAtomic } from '../lib/atomic-file.ts';
import { UnavailableError, describeError } from '../lib/errors.ts';
import type { CniConfigSource, CniNetworkConfig, CniPluginConf, NetworkReadiness } from './cni-config.ts';
import { CniPluginRunner, compareCniVersions } from './cni-plugin.ts';
import type { AttachResult, Cni, PodAttachment } from './cni-types.ts';

export interface CniManagerDeps {
  configs: CniConfigSource;
  /** Default ['/opt/cni/bin', '/usr/lib/cni']. */
  pluginDirs: readonly string[];
  /** Cached attachments: `<cacheDir>/<podId>.json`. */
  cacheDir: string;
  timeoutMs?: number;
  /** Told how long each ADD / DEL chain took and whether it failed (metrics). */
  observer?: CniObserver;
}

export interface CniObserver {
  observe(operation: 'ADD' | 'DEL', seconds: number, failed: boolean): void;
}

interface CachedAttachment {
  version: 1;
  attachment: PodAttachment;
  network: CniNetworkConfig;
  /** null until ADD finished: a crash mid-ADD still leaves something to DEL. */
  result: unknown;
}

const LOOPBACK: CniNetworkConfig = { name: 'cni-loopback', cniVersion: '1.0.0', plugins: [{ type: 'loopback' }], source: 'built-in' };

export class CniManager implements Cni {
  #deps: CniManagerDeps;
  #plugins: CniPluginRunner;

  constructor(deps: CniManagerDeps) {
    this.#deps = deps;
    this.#plugins = new CniPluginRunner({ pluginDirs: deps.pluginDirs, timeoutMs: deps.timeoutMs ?? 60_000 });
  }

  readiness(): NetworkReadiness {
    return this.#deps.configs.readiness();
  }

  async setUp(op: Op, attachment: PodAttachment): Promise<AttachResult> {
    const network = this.#deps.configs.current();
    if (!network) throw new UnavailableError(`cannot attach pod ${attachment.podId}: ${this.readiness().message}`);
    // containerd's go-cni and CRI-O's ocicni both bring up lo before the pod network.
    await this.#addChain(op, LOOPBACK, { ...attachment, ifName: 'lo', portMappings: [], bandwidth: undefined });
    const cached: CachedAttachment = { version: 1, attachment, network, result: null };
    await writeJsonAtomic(this.#cacheFile(attachment.podId), cached);
    const result = await this.#addChain(op, network, attachment);
    await writeJsonAtomic(this.#cacheFile(attachment.podId), { ...cached, result });
    return { network: network.name, ips: podIps(result), result };
  }

  async tearDown(op: Op, attachment: PodAttachment): Promise<void> {
    const cached = await readJsonIfExists<CachedAttachment>(this.#cacheFile(attachment.podId));
    if (!cached) return;
    await this.#delChain(op, cached.network, { ...cached.attachment, netnsPath: await existingOrEmpty(attachment.netnsPath) }, cached.result);
    await rm(this.#cacheFile(attachment.podId), { force: true });
  }

  async #observed<T>(operation: 'ADD' | 'DEL', fn: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    let failed = true;
    try {
      const out = await fn();
      failed = false;
      return out;
    } finally {
      this.#deps.observer?.observe(operation, Number(process.hrtime.bigint() - started) / 1e9, failed);
    }
  }

  async gc(op: Op, livePodIds: ReadonlySet<string>): Promise<void> {
    await mkdir(this.#deps.cacheDir, { recursive: true, mode: 0o700 });
    const live: PodAttachment[] = [];
    for (const name of await readdir(this.#deps.cacheDir)) {
      if (!name.endsWith('.json')) continue;
      const cached = await readJsonIfExists<CachedAttachment>(join(this.#deps.cacheDir, name)).catch(() => undefined);
      if (!cached) continue;
      if (livePodIds.has(cached.attachment.podId)) {
        live.push(cached.attachment);
        continue;
      }
      try {
        await this.tearDown(op, cached.attachment);
        op.log.info({ pod: cached.attachment.podId }, 'Released leaked CNI attachment');
      } catch (err) {
        op.log.warn({ pod: cached.attachment.podId, err: describeError(err) }, 'Releasing leaked CNI attachment failed');
      }
    }
    const network = this.#deps.configs.current();
    if (!network || network.disableGC || compareCniVersions(network.cniVersion, '1.1.0') < 0) return;
    // CNI 1.1 GC: plugins free everything not in the valid list (IPAM leases, iptables chains).
    const valid = live.map((a) => ({ containerID: a.podId, ifname: a.ifName }));
    for (const plugin of network.plugins) {
      const config = { ...pluginConfig(network, plugin, undefined, {}), 'cni.dev/valid-attachments': valid };
      await this.#plugins.invoke(op, { command: 'GC', type: plugin.type, config })
        .catch((err: unknown) => op.log.warn({ plugin: plugin.type, err: describeError(err) }, 'CNI GC failed'));
    }
  }

  #addChain(op: Op, network: CniNetworkConfig, attachment: PodAttachment): Promise<unknown> {
    return this.#observed('ADD', async () => {
      let prevResult: unknown;
      for (const plugin of network.plugins) {
        prevResult = await this.#plugins.invoke(op, this.#invocation('ADD', network, plugin, attachment, prevResult));
      }
      return prevResult;
    });
  }

  async #delChain(op: Op, network: CniNetworkConfig, attachment: PodAttachment, result: unknown): Promise<void> {
    // SPEC.md: DEL runs the chain in reverse; prevResult is passed from 0.4.0 on.
    const prev = compareCniVersions(network.cniVersion, '0.4.0') >= 0 && result ? result : undefined;
    await this.#observed('DEL', async () => {
      for (const plugin of [...network.plugins].reverse()) {
        await this.#plugins.invoke(op, this.#invocation('DEL', network, plugin, attachment, prev));
      }
    });
  }

  #invocation(command: 'ADD' | 'DEL', network: CniNetworkConfig, plugin: CniPluginConf, a: PodAttachment, prevResult: unknown) {
    return {
      command,
      type: plugin.type,
      config: pluginConfig(network, plugin, prevResult, capabilityArgs(a)),
      containerId: a.podId,
      netns: a.netnsPath,
      ifName: a.ifName,
      args: {
        IgnoreUnknown: '1',
        K8S_POD_NAMESPACE: a.podNamespace,
        K8S_POD_NAME: a.podName,
        K8S_POD_INFRA_CONTAINER_ID: a.podId,
        K8S_POD_UID: a.podUid,
      },
    };
  }

  #cacheFile(podId: string): string {
    return join(this.#deps.cacheDir, `${podId}.json`);
  }
}

/** The runtimeConfig values a pod can supply, keyed by CNI capability name (CONVENTIONS.md). */
function capabilityArgs(a: PodAttachment): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (a.portMappings.length > 0) args['portMappings'] = a.portMappings;
  if (a.bandwidth) args['bandwidth'] = a.bandwidth;
  if (a.dns) args['dns'] = a.dns;
  return args;
}

/** One plugin's stdin: the plugin entry plus name/cniVersion, prevResult and the runtimeConfig of the capabilities it declares. */
function pluginConfig(network: CniNetworkConfig, plugin: CniPluginConf, prevResult: unknown, capArgs: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = { ...plugin, name: network.name, cniVersion: network.cniVersion };
  if (prevResult !== undefined && prevResult !== null) config['prevResult'] = prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, enabled] of Object.entries(plugin.capabilities ?? {})) {
    if (enabled && capArgs[cap] !== undefined) runtimeConfig[cap] = capArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) config['runtimeConfig'] = runtimeConfig;
  return config;
}

/** The pod's addresses from a CNI result (0.3.0+ `ips`, or 0.1/0.2 `ip4`/`ip6`), IPv4 first. */
export function podIps(result: unknown): string[] {
  const r = (result ?? {}) as { ips?: Array<{ address?: string }>; ip4?: { ip?: string }; ip6?: { ip?: string } };
  const cidrs = r.ips ? r.ips.map((i) => i.address ?? '') : [r.ip4?.ip ?? '', r.ip6?.ip ?? ''];
  const ips = cidrs.filter(Boolean).map((c) => c.split('/')[0] ?? c);
  return [...ips.filter((ip) => !ip.includes(':')), ...ips.filter((ip) => ip.includes(':'))];
}

async function existingOrEmpty(path: string): Promise<string> {
  try {
    await access(path);
    return path;
  } catch {
    // SPEC.md: DEL must succeed even when the netns is gone; CNI_NETNS may then be empty.
    return '';
  }
}
