/**
 * Stats for containers and pods as the CRI asks for them: by id or by List* filter (id
 * prefix, pod id prefix, label selector), each usage paired with its record so the
 * handlers can fill the attributes. Records become the stats code's own targets here.
 */
import { join } from 'node:path';
import type { ContainerRecord } from '../container/container-record.ts';
import type { SandboxRecord } from '../sandbox/sandbox-service.ts';
import type { ContainerFilter__Output } from '../generated/cri/runtime/v1/ContainerFilter.ts';
import type { ContainerStatsFilter__Output } from '../generated/cri/runtime/v1/ContainerStatsFilter.ts';
import type { PodSandboxStatsFilter__Output } from '../generated/cri/runtime/v1/PodSandboxStatsFilter.ts';
import { NotFoundError } from '../lib/errors.ts';
import type { StatsService } from './stats-service.ts';
import type { ReadScope } from './sampler.ts';
import type { ContainerTarget, ContainerUsage, PodTarget, PodUsage, StatsTargets } from './targets.ts';
import { shown } from '../lib/shown.ts';

export interface RecordStatsDeps {
  containers: {
    get(idOrPrefix: string): ContainerRecord;
    list(filter: ContainerFilter__Output | null): ContainerRecord[];
  };
  pods: {
    get(idOrPrefix: string): SandboxRecord;
    list(): SandboxRecord[];
  };
  stats: StatsService;
  /** Container read-write layers: `<dir>/<id>/upper`. */
  layersDir: string;
}

export interface ContainerStatsEntry {
  record: ContainerRecord;
  usage: ContainerUsage;
}

export interface PodStatsEntry {
  record: SandboxRecord;
  usage: PodUsage;
  containers: ContainerRecord[];
}

export function containerTarget(layersDir: string, rec: ContainerRecord): ContainerTarget {
  return {
    id: rec.id, podId: rec.metadata.podId, running: rec.status.phase === 'running', pid: rec.status.pid,
    memoryCgroupDir: rec.status.memoryCgroupDir, writableLayerDir: join(layersDir, rec.id, 'upper'),
  };
}

function podTarget(rec: SandboxRecord): PodTarget {
  return {
    id: rec.id,
    // A systemd slice is not a cgroupfs path: such pods report the sum of their containers.
    cgroupfsParent: rec.metadata.cgroupDriver === 'cgroupfs' ? rec.metadata.cgroupParent : '',
    netnsPath: rec.status.phase === 'ready' ? rec.status.namespaces.net : undefined,
    infraPid: rec.status.infra?.pid ?? 0,
  };
}

/** Every live container and pod, for the sampler. */
export function recordTargets(deps: Pick<RecordStatsDeps, 'containers' | 'pods' | 'layersDir'>): StatsTargets {
  return {
    containers: () => deps.containers.list(null).map((r) => containerTarget(deps.layersDir, r)),
    pods: () => deps.pods.list().map(podTarget),
  };
}

function labelsMatch(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

export class RecordStats {
  readonly #deps: RecordStatsDeps;

  constructor(deps: RecordStatsDeps) {
    this.#deps = deps;
  }

  /** @throws NotFoundError */
  async container(idOrPrefix: string): Promise<ContainerStatsEntry> {
    const record = this.#deps.containers.get(idOrPrefix);
    return { record, usage: await this.#deps.stats.container(containerTarget(this.#deps.layersDir, record)) };
  }

  async containers(filter: ContainerStatsFilter__Output | null): Promise<ContainerStatsEntry[]> {
    const records = this.#deps.containers.list(filter ? { id: filter.id, pod_sandbox_id: filter.pod_sandbox_id, label_selector: filter.label_selector, state: null } : null);
    const usages = await this.#deps.stats.containers(records.map((r) => containerTarget(this.#deps.layersDir, r)));
    return records.map((record, i) => ({ record, usage: usages[i]! }));
  }

  /** @throws NotFoundError */
  async pod(idOrPrefix: string): Promise<PodStatsEntry> {
    const record = this.#deps.pods.get(idOrPrefix);
    if (record.status.phase === 'creating') throw new NotFoundError(`pod sandbox ${shown(idOrPrefix)} not found`);
    return this.#podEntry(record, this.#deps.containers.list(null).filter((c) => c.metadata.podId === record.id));
  }

  /** `full` for metrics: also the settings, block I/O and tasks only they export. */
  async pods(filter: PodSandboxStatsFilter__Output | null, scope: ReadScope = 'usage'): Promise<PodStatsEntry[]> {
    const records = this.#deps.pods.list().filter((r) => (!filter?.id || r.id.startsWith(filter.id)) && labelsMatch(r.metadata.config.labels, filter?.label_selector));
    // Containers by pod once, not a scan of every container per pod.
    const byPod = new Map<string, ContainerRecord[]>();
    for (const c of this.#deps.containers.list(null)) {
      const list = byPod.get(c.metadata.podId);
      if (list) list.push(c);
      else byPod.set(c.metadata.podId, [c]);
    }
    return Promise.all(records.map((r) => this.#podEntry(r, byPod.get(r.id) ?? [], scope)));
  }

  async #podEntry(record: SandboxRecord, containers: ContainerRecord[], scope: ReadScope = 'usage'): Promise<PodStatsEntry> {
    const usage = await this.#deps.stats.pod(podTarget(record), containers.map((c) => containerTarget(this.#deps.layersDir, c)), scope);
    return { record, usage, containers };
  }
}
