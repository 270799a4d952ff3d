/**
 * Pod records as CRI messages: PodSandboxStatus (with verbose info) and the
 * ListPodSandbox entries and filter. Labels and annotations are returned exactly as
 * received (cri-api.md item 17).
 */
import type { PodSandboxStatusResponse } from '../generated/cri/runtime/v1/PodSandboxStatusResponse.ts';
import type { PodSandbox } from '../generated/cri/runtime/v1/PodSandbox.ts';
import type { PodSandboxFilter__Output } from '../generated/cri/runtime/v1/PodSandboxFilter.ts';
import { PodSandboxState, type PodSandboxState__Output } from '../generated/cri/runtime/v1/PodSandboxState.ts';
import { NamespaceMode } from '../generated/cri/runtime/v1/NamespaceMode.ts';
import type { SandboxRecord } from './sandbox-service.ts';

function stateOf(rec: SandboxRecord): PodSandboxState__Output {
  return rec.status.phase === 'ready' ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
}

export function sandboxStatusResponse(rec: SandboxRecord, verbose: boolean, nowNs: bigint): PodSandboxStatusResponse {
  const { config } = rec.metadata;
  const opts = config.linux?.security_context?.namespace_options;
  const [ip = '', ...rest] = rec.status.ips;
  const response: PodSandboxStatusResponse = {
    status: {
      id: rec.id,
      metadata: config.metadata,
      state: stateOf(rec),
      created_at: rec.metadata.createdAt,
      network: { ip, additional_ips: rest.map((a) => ({ ip: a })) },
      linux: {
        namespaces: {
          options: {
            network: opts?.network ?? NamespaceMode.POD,
            pid: opts?.pid ?? NamespaceMode.POD,
            ipc: opts?.ipc ?? NamespaceMode.POD,
            target_id: opts?.target_id ?? '',
            userns_options: opts?.userns_options ?? null,
          },
        },
      },
      labels: config.labels,
      annotations: config.annotations,
      runtime_handler: rec.metadata.runtimeHandler,
    },
    info: {},
    containers_statuses: [],
    timestamp: nowNs.toString(),
  };
  if (verbose) {
    response.info = {
      info: JSON.stringify({
        id: rec.id,
        name: rec.metadata.name,
        phase: rec.status.phase,
        namespaces: rec.status.namespaces,
        netnsPath: rec.status.namespaces.net ?? '',
        cniResult: rec.status.cniResult,
        hostname: rec.metadata.hostname,
        runDir: rec.metadata.runDir,
        cgroupParent: rec.metadata.cgroupParent,
        cgroupDriver: rec.metadata.cgroupDriver,
        shmMounted: rec.status.shmMounted,
        infraPid: rec.status.infra?.pid ?? 0,
        runtimeHandler: rec.metadata.runtimeHandler,
        // containerd shows the last UpdatePodSandboxResources the same way (status Overhead/Resources).
        overhead: rec.status.resources?.overhead ?? null,
        resources: rec.status.resources?.resources ?? null,
        podCgroupLimits: rec.status.resources?.limits ?? null,
        podCgroupWritten: rec.status.resources?.written.map((w) => `${w.controller}/${w.file}=${w.value}`) ?? [],
        config,
      }),
    };
  }
  return response;
}

export function podSandboxEntry(rec: SandboxRecord): PodSandbox {
  const { config } = rec.metadata;
  return {
    id: rec.id,
    metadata: config.metadata,
    state: stateOf(rec),
    created_at: rec.metadata.createdAt,
    labels: config.labels,
    annotations: config.annotations,
    runtime_handler: rec.metadata.runtimeHandler,
  };
}

/** ListPodSandbox filter: id prefix (crictl passes prefixes), state, label selector (all must match). */
export function matchesFilter(rec: SandboxRecord, filter: PodSandboxFilter__Output | null): boolean {
  if (!filter) return true;
  if (filter.id && !rec.id.startsWith(filter.id)) return false;
  if (filter.state && stateOf(rec) !== filter.state.state) return false;
  const labels = rec.metadata.config.labels;
  return Object.entries(filter.label_selector).every(([k, v]) => labels[k] === v);
}
