/** Translates stored images into CRI `Image` messages (shared by List, Stream and Status). */
import type { Image } from '../generated/cri/runtime/v1/Image.ts';
import type { ImageView } from '../image/image-service.ts';

/**
 * The config's User as CRI wants it: a numeric user (alone or as `uid:gid`) is `uid`,
 * anything else is `username` (containerd getUserFromImage).
 */
function imageUser(user: string): Pick<Image, 'uid' | 'username'> {
  const name = user.split(':')[0] ?? '';
  if (name === '') return { uid: null, username: '' };
  if (/^\d+$/.test(name)) return { uid: { value: name }, username: '' };
  return { uid: null, username: name };
}

export function toCriImage(v: ImageView): Image {
  const id = `sha256:${v.record.id}`;
  return {
    id,
    repo_tags: v.record.names,
    repo_digests: v.record.digests,
    size: String(Math.max(1, v.record.size)),
    ...imageUser(v.user),
    spec: { image: id, annotations: {} },
    pinned: v.pinned,
  };
}
