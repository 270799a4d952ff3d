/** PullImage: validate, pull through the image service, answer with the image id. */
import type { ImageService } from '../image/image-service.ts';
import type { RuntimeInfoService } from '../runtime/info-service.ts';
import { credentialsFromAuthConfig } from '../image/auth.ts';
import { InvalidArgumentError } from '../lib/errors.ts';
import type { UnaryHandler } from './adapt.ts';
import type { PullImageRequest__Output } from '../generated/cri/runtime/v1/PullImageRequest.ts';
import type { PullImageResponse } from '../generated/cri/runtime/v1/PullImageResponse.ts';
import { checkPullImage } from './validate/requests.ts';

export function pullImageHandler(images: ImageService, info: RuntimeInfoService): UnaryHandler<PullImageRequest__Output, PullImageResponse> {
  return async (req, op) => {
    checkPullImage(req);
    const image = req.image?.image ?? '';
    const handler = req.image?.runtime_handler ?? '';
    if (handler !== '' && !info.handlers().some((h) => h.name === handler)) {
      throw new InvalidArgumentError(`image.runtime_handler: unknown runtime handler "${handler}"`);
    }
    const rec = await images.pull(op, image, credentialsFromAuthConfig(req.auth));
    // CRI 1.36: image_ref must equal Image.id, the node-unique id (cri-api.md item 1).
    return { image_ref: `sha256:${rec.id}` };
  };
}
