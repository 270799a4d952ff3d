/** ImageStatus: an absent image is not an error; `image` is left unset (cri-api.md item 2). */
import type { ImageService } from '../image/image-service.ts';
import type { UnaryHandler } from './adapt.ts';
import type { ImageStatusRequest__Output } from '../generated/cri/runtime/v1/ImageStatusRequest.ts';
import type { ImageStatusResponse } from '../generated/cri/runtime/v1/ImageStatusResponse.ts';
import { toCriImage } from './image-view.ts';
import { checkImageName } from './validate/requests.ts';

export function imageStatusHandler(images: ImageService): UnaryHandler<ImageStatusRequest__Output, ImageStatusResponse> {
  return async (req) => {
    const spec = req.image?.image ?? '';
    checkImageName('image.image', spec);
    const rec = images.find(spec);
    if (!rec) return { image: null, info: {} };
    const view = await images.view(rec);
    const info: Record<string, string> = req.verbose
      ? { info: JSON.stringify({ id: `sha256:${rec.id}`, chainID: `sha256:${rec.topLayer}`, created: rec.created, imageSpec: await images.config(rec.id) }) }
      : {};
    return { image: toCriImage(view), info };
  };
}
