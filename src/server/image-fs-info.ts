/** ImageFsInfo: bytes and inodes used by the layer store, with its mountpoint. */
import type { ImageService } from '../image/image-service.ts';
import type { UnaryHandler } from './adapt.ts';
import type { ImageFsInfoRequest__Output } from '../generated/cri/runtime/v1/ImageFsInfoRequest.ts';
import type { ImageFsInfoResponse } from '../generated/cri/runtime/v1/ImageFsInfoResponse.ts';

export function imageFsInfoHandler(images: ImageService): UnaryHandler<ImageFsInfoRequest__Output, ImageFsInfoResponse> {
  return async () => {
    const u = await images.usage();
    const fs = {
      timestamp: String(u.timestampNs),
      fs_id: { mountpoint: u.mountpoint },
      used_bytes: { value: String(u.bytes) },
      inodes_used: { value: String(u.inodes) },
    };
    // Containers' writable layers live on the same filesystem, so no separate entry.
    return { image_filesystems: [fs], container_filesystems: [] };
  };
}
