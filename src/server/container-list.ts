/** ListContainers and StreamContainers (same filter; the stream sends batches, cri-api.md item 31). */
import type { UnaryHandler, StreamHandler } from './adapt.ts';
import type { ContainerService } from '../container/container-service.ts';
import { containerEntry } from '../container/container-view.ts';
import type { ListContainersRequest__Output } from '../generated/cri/runtime/v1/ListContainersRequest.ts';
import type { ListContainersResponse } from '../generated/cri/runtime/v1/ListContainersResponse.ts';
import type { StreamContainersRequest__Output } from '../generated/cri/runtime/v1/StreamContainersRequest.ts';
import type { StreamContainersResponse } from '../generated/cri/runtime/v1/StreamContainersResponse.ts';
import { checkFilter } from './validate/requests.ts';
import { ListAnswerCache } from './list-answer-cache.ts';

const STREAM_BATCH = 500;

export function listContainersHandler(containers: ContainerService): UnaryHandler<ListContainersRequest__Output, ListContainersResponse> {
  const cache = new ListAnswerCache<ListContainersResponse>();
  return async (req) => {
    checkFilter('filter', req.filter, 'container');
    return cache.get(req.filter, containers.listGeneration, () => ({ containers: containers.list(req.filter).map(containerEntry) }));
  };
}

export function streamContainersHandler(containers: ContainerService): StreamHandler<StreamContainersRequest__Output, StreamContainersResponse> {
  return async function* (req) {
    checkFilter('filter', req.filter, 'container');
    const items = containers.list(req.filter).map(containerEntry);
    for (let i = 0; i < items.length; i += STREAM_BATCH) yield { containers: items.slice(i, i + STREAM_BATCH) };
  };
}
