/**
 * Container records as CRI messages: ContainerStatus (every field, cri-api.md §4 items
 * 16–18), the ListContainers entries and their filter. Labels and annotations are returned
 * exactly as received (item 17).
 */
import type { ContainerStatusResponse } from '../generated/cri/runtime/v1/ContainerStatusResponse.ts';
import type { Container } from '../generated/cri/runtime/v1/Container.ts';
import type { ContainerFilter__Output } from '../generated/cri/runtime/v1/ContainerFilter.ts';
import { ContainerState, type ContainerState__Output } from '../generated/cri/runtime/v1/ContainerState.ts';
import type { ContainerRecord, ContainerStatusRecord } from './container-record.ts';
import { signalEnumOf } from './stop-signal.ts';

function stateOf(status: ContainerStatusRecord): ContainerState__Output {
  switch (status.phase) {
    case 'created': return ContainerState.CONTAINER_CREATED;
    case 'running': return ContainerState.CONTAINER_RUNNING;
    case 'exited': return ContainerState.CONTAINER_EXITED;
    default: return ContainerState.CONTAINER_UNKNOWN;
  }
}

export function containerStatusResponse(rec: ContainerRecord, info: Record<string, string>): ContainerStatusResponse {
  const md = rec.metadata;
  const s = rec.status;
  const config = md.config;
  return {
    status: {
      id: rec.id,
      metadata: config.metadata,
      state: stateOf(s),
      created_at: md.createdAt,
      started_at: s.startedAt,
      finished_at: s.finishedAt,
      exit_code: s.exitCode,
      image: { image: md.imageRequested, annotations: config.image?.annotations ?? {}, user_specified_image: config.image?.user_specified_image ?? '', runtime_handler: config.image?.runtime_handler ?? '' },
      image_ref: md.imageRef,
      image_id: `sha256:${md.imageId}`,
      reason: s.reason,
      message: s.message,
      labels: config.labels,
      annotations: config.annotations,
      mounts: config.mounts,
      log_path: md.logPath,
      resources: s.resources ? { linux: s.resources } : null,
      user: s.user ? { linux: { uid: String(s.user.uid), gid: String(s.user.gid), supplemental_groups: s.user.additionalGids.map(String) } } : null,
      stop_signal: signalEnumOf(md.stopSignal),
    },
    info,
  };
}

export function containerEntry(rec: ContainerRecord): Container {
  const md = rec.metadata;
  return {
    id: rec.id,
    pod_sandbox_id: md.podId,
    metadata: md.config.metadata,
    image: { image: md.imageRequested, annotations: md.config.image?.annotations ?? {}, user_specified_image: md.config.image?.user_specified_image ?? '' },
    image_ref: md.imageRef,
    image_id: `sha256:${md.imageId}`,
    state: stateOf(rec.status),
    created_at: md.createdAt,
    labels: md.config.labels,
    annotations: md.config.annotations,
  };
}

/** ListContainers filter: id prefix, state, pod id prefix, label selector (all must match). */
export function matchesContainerFilter(rec: ContainerRecord, filter: ContainerFilter__Output | null): boolean {
  if (!filter) return true;
  if (filter.id && !rec.id.startsWith(filter.id)) return false;
  if (filter.state && stateOf(rec.status) !== filter.state.state) return false;
  if (filter.pod_sandbox_id && !rec.metadata.podId.startsWith(filter.pod_sandbox_id)) return false;
  const labels = rec.metadata.config.labels;
  return Object.entries(filter.label_selector).every(([k, v]) => labels[k] === v);
}
