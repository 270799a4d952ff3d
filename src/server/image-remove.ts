/** RemoveImage: by id, tag or digest; removes every name of the image; idempotent. */
import type { ImageService } from '../image/image-service.ts';
import type { UnaryHandler } from './adapt.ts';
import type { RemoveImageRequest__Output } from '../generated/cri/runtime/v1/RemoveImageRequest.ts';
import type { RemoveImageResponse } from '../generated/cri/runtime/v1/RemoveImageResponse.ts';
import { checkImageName } from './validate/requests.ts';

export function removeImageHandler(images: ImageService): UnaryHandler<RemoveImageRequest__Output, RemoveImageResponse> {
  return async (req, op) => {
    const spec = req.image?.image ?? '';
    checkImageName('image.image', spec);
    await images.remove(op, spec);
    return {};
  };
}
