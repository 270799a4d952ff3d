/**
 * GetContainerEvents (cri-api.md item 30): one long-lived stream per subscriber, each
 * with its own bounded queue in the broadcaster, and the payload the kubelet's evented
 * PLEG reads: the pod's status and the statuses of its containers at the time of the
 * event, built once per event and shared by every subscriber.
 */
import type { StreamHandler } from './adapt.ts';
import type { Broadcaster } from '../events/broadcaster.ts';
import type { ContainerRecord } from '../container/container-record.ts';
import { containerStatusResponse } from '../container/container-view.ts';
import { sandboxStatusResponse } from '../sandbox/sandbox-view.ts';
import type { SandboxRecord } from '../sandbox/sandbox-service.ts';
import { ContainerEventType, type ContainerEventType__Output } from '../generated/cri/runtime/v1/ContainerEventType.ts';
import type { ContainerEventResponse } from '../generated/cri/runtime/v1/ContainerEventResponse.ts';
import type { GetEventsRequest__Output } from '../generated/cri/runtime/v1/GetEventsRequest.ts';
import type { ContainerLifecycleEvent } from '../container/container-deps.ts';

const EVENT_TYPES: Record<ContainerLifecycleEvent, ContainerEventType__Output> = {
  created: ContainerEventType.CONTAINER_CREATED_EVENT,
  started: ContainerEventType.CONTAINER_STARTED_EVENT,
  stopped: ContainerEventType.CONTAINER_STOPPED_EVENT,
  deleted: ContainerEventType.CONTAINER_DELETED_EVENT,
};

export interface EventPayloadSources {
  /** The pod, or undefined once it is gone. */
  pod(id: string): SandboxRecord | undefined;
  /** The pod's containers as they are now (a deleted one is no longer among them). */
  containersOf(podId: string): ContainerRecord[];
  nowNs(): bigint;
}

/** The CRI event for `event` on `rec`, with statuses as they are at this moment. */
export function containerEventPayload(src: EventPayloadSources, event: ContainerLifecycleEvent, rec: ContainerRecord): ContainerEventResponse {
  const now = src.nowNs();
  const pod = src.pod(rec.metadata.podId);
  const others = src.containersOf(rec.metadata.podId).filter((c) => c.id !== rec.id);
  // The event's own container comes from the snapshot taken when it happened; a deleted one is left out (containerd does the same).
  const mine = event === 'deleted' ? [] : [rec];
  return {
    container_id: rec.id,
    container_event_type: EVENT_TYPES[event],
    created_at: now.toString(),
    pod_sandbox_status: pod ? sandboxStatusResponse(pod, false, now).status ?? null : null,
    containers_statuses: [...mine, ...others].map((c) => containerStatusResponse(c, {}).status!),
  };
}

export function getContainerEventsHandler(events: Broadcaster<ContainerEventResponse>): StreamHandler<GetEventsRequest__Output, ContainerEventResponse> {
  return async function* (_req, op) {
    const sub = events.subscribe();
    const onAbort = (): void => sub.close();
    op.signal.addEventListener('abort', onAbort, { once: true });
    try {
      yield* sub;
    } finally {
      op.signal.removeEventListener('abort', onAbort);
      sub.close();
    }
  };
}
