/** ListImages and StreamImages: every stored image, or the one the filter names. */
import type { ImageService } from '../image/image-service.ts';
import type { UnaryHandler, StreamHandler } from './adapt.ts';
import type { ListImagesRequest__Output } from '../generated/cri/runtime/v1/ListImagesRequest.ts';
import type { ListImagesResponse } from '../generated/cri/runtime/v1/ListImagesResponse.ts';
import type { StreamImagesRequest__Output } from '../generated/cri/runtime/v1/StreamImagesRequest.ts';
import type { StreamImagesResponse } from '../generated/cri/runtime/v1/StreamImagesResponse.ts';
import type { Image } from '../generated/cri/runtime/v1/Image.ts';
import { toCriImage } from './image-view.ts';
import { checkImageName } from './validate/requests.ts';

async function matching(images: ImageService, filterSpec: string): Promise<Image[]> {
  if (filterSpec !== '') checkImageName('filter.image.image', filterSpec);
  const recs = filterSpec ? [images.find(filterSpec)].filter((r) => r !== undefined) : images.list();
  return Promise.all(recs.map(async (r) => toCriImage(await images.view(r))));
}

export function listImagesHandler(images: ImageService): UnaryHandler<ListImagesRequest__Output, ListImagesResponse> {
  return async (req) => ({ images: await matching(images, req.filter?.image?.image ?? '') });
}

/** Batches of images, at least one per message, each exactly once (cri-api.md item 31). */
const BATCH = 100;

export function streamImagesHandler(images: ImageService): StreamHandler<StreamImagesRequest__Output, StreamImagesResponse> {
  return async function* (req) {
    const all = await matching(images, req.filter?.image?.image ?? '');
    for (let i = 0; i < all.length; i += BATCH) yield { images: all.slice(i, i + BATCH) };
  };
}
