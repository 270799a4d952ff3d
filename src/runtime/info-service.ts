/**
 * What the runtime says about itself: version, readiness conditions, handlers and their
 * features, the cgroup driver, and the pod CIDR the kubelet pushes. Conditions come from
 * injected probes so this service knows nothing of CNI or hosts.
 */
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { writeJsonAtomic, readJsonIfExists } from '../lib/atomic-file.ts';
import type { Config } from '../config/schema.ts';
import type { CheckResult } from '../host/checks.ts';

/** One readiness condition, as CRI's RuntimeCondition. */
export interface Condition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

/** Reports whether pods can get a network (the CNI config watcher implements it). */
interface NetworkReadiness {
  networkCondition(): Condition;
}

export interface RuntimeHandlerInfo {
  name: string;
  recursiveReadOnlyMounts: boolean;
  userNamespaces: boolean;
}

export interface RuntimeInfoDeps {
  config: Config;
  configSources: readonly string[];
  version: string;
  network: NetworkReadiness;
  /** Results of the host checks made at start. */
  hostChecks: readonly CheckResult[];
  /** Handlers whose binary exists, with their features. */
  handlers: readonly RuntimeHandlerInfo[];
}

/** The condition type the kubelet ignores but operators see in `crictl info`. */
const HOST_PREREQUISITES = 'HostPrerequisites';

export class RuntimeInfoService {
  #deps: RuntimeInfoDeps;
  #podCidr = '';

  constructor(deps: RuntimeInfoDeps) {
    this.#deps = deps;
  }

  /** Loads the pod CIDR stored by an earlier UpdateRuntimeConfig. */
  async load(): Promise<void> {
    const saved = await readJsonIfExists<{ version: 1; pod_cidr: string }>(this.#file());
    this.#podCidr = saved?.pod_cidr ?? '';
  }

  version(): { runtimeName: string; runtimeVersion: string; runtimeApiVersion: string } {
    return { runtimeName: 'critter', runtimeVersion: this.#deps.version, runtimeApiVersion: 'v1' };
  }

  conditions(): Condition[] {
    const soft = this.#deps.hostChecks.filter((c) => !c.required && !c.ok);
    return [
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      this.#deps.network.networkCondition(),
      {
        type: HOST_PREREQUISITES,
        status: soft.length === 0,
        reason: soft.length === 0 ? '' : 'OptionalPrerequisitesMissing',
        message: soft.map((c) => `${c.name}: ${c.detail} (Debian package ${c.pkg})`).join('; '),
      },
    ];
  }

  handlers(): readonly RuntimeHandlerInfo[] {
    return this.#deps.handlers;
  }

  /** The verbose `info` map of StatusResponse: JSON values keyed by topic. */
  verboseInfo(): Record<string, string> {
    return {
      config: JSON.stringify(this.#deps.config),
      configSources: JSON.stringify(this.#deps.configSources),
      hostChecks: JSON.stringify(this.#deps.hostChecks),
      podCidr: JSON.stringify(this.#podCidr),
    };
  }

  cgroupDriver(): 'systemd' | 'cgroupfs' {
    return this.#deps.config.cgroup_driver;
  }

  podCidr(): string {
    return this.#podCidr;
  }

  /** Stores the node's pod CIDR (containerd feeds it to CNI templates; we keep it for the same use). */
  async updatePodCidr(op: Op, cidr: string): Promise<void> {
    if (cidr === this.#podCidr) return;
    await writeJsonAtomic(this.#file(), { version: 1, pod_cidr: cidr });
    op.log.info({ podCidr: cidr }, 'Pod CIDR updated');
    this.#podCidr = cidr;
  }

  #file(): string {
    return join(this.#deps.config.root, 'runtime-config.json');
  }
}
