/** ListPodSandbox and StreamPodSandboxes (same filter; the stream sends batches, cri-api.md item 31). */
import type { UnaryHandler, StreamHandler } from './adapt.ts';
import type { SandboxService } from '../sandbox/sandbox-service.ts';
import { matchesFilter, podSandboxEntry } from '../sandbox/sandbox-view.ts';
import type { ListPodSandboxRequest__Output } from '../generated/cri/runtime/v1/ListPodSandboxRequest.ts';
import type { ListPodSandboxResponse } from '../generated/cri/runtime/v1/ListPodSandboxResponse.ts';
import type { StreamPodSandboxesRequest__Output } from '../generated/cri/runtime/v1/StreamPodSandboxesRequest.ts';
import type { StreamPodSandboxesResponse } from '../generated/cri/runtime/v1/StreamPodSandboxesResponse.ts';
import { checkFilter } from './validate/requests.ts';
import { ListAnswerCache } from './list-answer-cache.ts';

const STREAM_BATCH = 500;

export function listPodSandboxHandler(sandboxes: SandboxService): UnaryHandler<ListPodSandboxRequest__Output, ListPodSandboxResponse> {
  const cache = new ListAnswerCache<ListPodSandboxResponse>();
  return async (req) => {
    checkFilter('filter', req.filter, 'pod');
    return cache.get(req.filter, sandboxes.listGeneration, () => ({ items: sandboxes.list().filter((r) => matchesFilter(r, req.filter)).map(podSandboxEntry) }));
  };
}

export function streamPodSandboxesHandler(sandboxes: SandboxService): StreamHandler<StreamPodSandboxesRequest__Output, StreamPodSandboxesResponse> {
  return async function* (req) {
    checkFilter('filter', req.filter, 'pod');
    const items = sandboxes.list().filter((r) => matchesFilter(r, req.filter)).map(podSandboxEntry);
    for (let i = 0; i < items.length; i += STREAM_BATCH) yield { pod_sandboxes: items.slice(i, i + STREAM_BATCH) };
  };
}
