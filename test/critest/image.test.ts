/**
 * Conformance, area "image": mirrors upstream critest's image specs (cri-tools
 * pkg/validate/image.go) over gRPC against the real daemon. The images upstream pulls from
 * gcr.io and registry.k8s.io are small stand-ins built offline, pushed to a local registry
 * under the same repository paths, and reached through the registries.conf rewrite.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRegistry, type RunningRegistry } from '../fixtures/registry.ts';
import { buildImage, file, pushImage, type BuiltImage, type PushedImage } from '../fixtures/image-builder.ts';
import { registriesConfText } from '../fixtures/registries-conf.ts';
import { startDaemon, type RunningDaemon } from '../integration/helpers/daemon.ts';

const STAGING = 'gcr.io/k8s-staging-cri-tools';
// Upstream's names (image.go / consts.go), with the digest of our stand-in.
const IMAGE_WITHOUT_TAG = `${STAGING}/test-image-latest`;
const IMAGE_WITH_TAG = `${STAGING}/test-image-tag:test`;
const IMAGE_DIGEST_REPO = `${STAGING}/test-image-digest`;
const IMAGE_WITH_ALL_REFERENCES = `${STAGING}/test-image-tag:all`;
const DIFFERENT_TAG_DIFFERENT_IMAGE = [`${STAGING}/test-image-1:latest`, `${STAGING}/test-image-2:latest`, `${STAGING}/test-image-3:latest`];
const DIFFERENT_TAG_SAME_IMAGE = [`${STAGING}/test-image-tags:1`, `${STAGING}/test-image-tags:2`, `${STAGING}/test-image-tags:3`];
const PAUSE_IN_TWO_REGISTRIES = ['registry.k8s.io/pause:3.9', 'k8s.gcr.io/pause:3.9'];

/** `gcr.io/x/y:t` → repository path `x/y` and tag `t` as the local registry holds them. */
function localPath(ref: string): { repo: string; tag: string } {
  const noDomain = ref.slice(ref.indexOf('/') + 1);
  const at = noDomain.lastIndexOf(':');
  return at < 0 ? { repo: noDomain, tag: 'latest' } : { repo: noDomain.slice(0, at), tag: noDomain.slice(at + 1) };
}

describe('[k8s.io] Image Manager', () => {
  let registry: RunningRegistry;
  let d: RunningDaemon;
  const pushed = new Map<string, PushedImage>();
  let digestImage: PushedImage;

  const marker = (name: string): Promise<BuiltImage> => buildImage({ layers: [{ entries: [file(name, `${name}\n`)] }], config: { Cmd: ['sh'] } });
  const push = async (ref: string, img: BuiltImage): Promise<PushedImage> => {
    const { repo, tag } = localPath(ref);
    const p = await pushImage(registry, repo, tag, img);
    pushed.set(ref, p);
    return p;
  };

  before(async () => {
    registry = await startRegistry();
    await push(IMAGE_WITHOUT_TAG, await marker('latest'));
    await push(IMAGE_WITH_TAG, await marker('test'));
    await push(IMAGE_WITH_ALL_REFERENCES, await marker('all'));
    digestImage = await push(`${IMAGE_DIGEST_REPO}:latest`, await marker('digest'));
    for (const [i, ref] of DIFFERENT_TAG_DIFFERENT_IMAGE.entries()) await push(ref, await marker(`different-${i}`));
    const same = await marker('same-image');
    for (const ref of DIFFERENT_TAG_SAME_IMAGE) await push(ref, same);
    const pause = await marker('pause');
    for (const ref of PAUSE_IN_TWO_REGISTRIES) await push(ref, pause);
    d = await startDaemon({ registriesConf: registriesConfText(registry.host) });
  });
  after(async () => {
    await d?.stop();
    await registry?.stop();
  });

  const pull = async (image: string): Promise<string> => (await d.client.call('PullImage', { image: { image } })).image_ref as string;
  const status = async (image: string): Promise<Record<string, any> | null> => (await d.client.call('ImageStatus', { image: { image } })).image; // eslint-disable-line @typescript-eslint/no-explicit-any
  const remove = (image: string): Promise<unknown> => d.client.call('RemoveImage', { image: { image } });
  const list = async (): Promise<{ id: string; repo_tags: string[]; repo_digests: string[] }[]> => (await d.client.call('ListImages', {})).images;

  /** Upstream testPullPublicImage: pull, status shows it, remove, status shows nothing. */
  async function pullAndRemove(image: string, wantTag?: string): Promise<void> {
    const ref = await pull(image);
    const s = await status(image);
    assert.ok(s, `ImageStatus of ${image} after the pull`);
    assert.equal(s.id, ref, 'image_ref is the image id');
    if (wantTag) assert.ok((s.repo_tags as string[]).includes(wantTag), JSON.stringify(s.repo_tags));
    await remove(image);
    assert.equal(await status(image), null, `${image} is gone after RemoveImage`);
  }

  it('public image without tag should be pulled and removed [Conformance]', async () => {
    await pullAndRemove(IMAGE_WITHOUT_TAG, `${IMAGE_WITHOUT_TAG}:latest`);
  });

  it('public image with tag should be pulled and removed [Conformance]', async () => {
    await pullAndRemove(IMAGE_WITH_TAG, IMAGE_WITH_TAG);
  });

  it('public image with digest should be pulled and removed [Conformance]', async () => {
    await pullAndRemove(`${IMAGE_DIGEST_REPO}@${digestImage.manifestDigest}`);
  });

  it('image status should support all kinds of references [Conformance]', async () => {
    const id = await pull(IMAGE_WITH_ALL_REFERENCES);
    const byTag = await status(IMAGE_WITH_ALL_REFERENCES);
    assert.ok(byTag);
    const repoDigest = (byTag.repo_digests as string[])[0];
    assert.ok(repoDigest, 'a repo digest');
    assert.equal(repoDigest, `${STAGING}/test-image-tag@${pushed.get(IMAGE_WITH_ALL_REFERENCES)!.manifestDigest}`);
    for (const ref of [id, id.slice('sha256:'.length), IMAGE_WITH_ALL_REFERENCES, repoDigest]) {
      const s = await status(ref);
      assert.equal(s?.id, id, `ImageStatus(${ref})`);
      assert.deepEqual(s?.repo_tags, byTag.repo_tags);
      assert.deepEqual(s?.repo_digests, byTag.repo_digests);
    }
    await remove(IMAGE_WITH_ALL_REFERENCES);
    assert.equal(await status(id), null);
  });

  it('listImage should get exactly 3 image in the result [Conformance]', async () => {
    for (const ref of DIFFERENT_TAG_DIFFERENT_IMAGE) await pull(ref);
    const ours = (await list()).filter((i) => i.repo_tags.some((t) => DIFFERENT_TAG_DIFFERENT_IMAGE.includes(t)));
    assert.equal(ours.length, 3, JSON.stringify(ours));
    for (const ref of DIFFERENT_TAG_DIFFERENT_IMAGE) await remove(ref);
  });

  it('listImage should get exactly 3 repoTags in the result image [Conformance]', async () => {
    for (const ref of DIFFERENT_TAG_SAME_IMAGE) await pull(ref);
    const ours = (await list()).filter((i) => i.repo_tags.some((t) => DIFFERENT_TAG_SAME_IMAGE.includes(t)));
    assert.equal(ours.length, 1, JSON.stringify(ours));
    assert.deepEqual([...ours[0]!.repo_tags].sort(), [...DIFFERENT_TAG_SAME_IMAGE].sort());
    await remove(DIFFERENT_TAG_SAME_IMAGE[0]!);
    for (const ref of DIFFERENT_TAG_SAME_IMAGE) assert.equal(await status(ref), null, ref);
  });

  it('removing image from one registry should remove all tags from other registries [Conformance]', async () => {
    const ids = new Set<string>();
    for (const ref of PAUSE_IN_TWO_REGISTRIES) ids.add(await pull(ref));
    assert.equal(ids.size, 1, 'one image under both registries');
    const s = await status(PAUSE_IN_TWO_REGISTRIES[0]!);
    assert.deepEqual([...(s?.repo_tags as string[])].sort(), [...PAUSE_IN_TWO_REGISTRIES].sort());
    await remove(PAUSE_IN_TWO_REGISTRIES[0]!);
    for (const ref of PAUSE_IN_TWO_REGISTRIES) assert.equal(await status(ref), null, ref);
    assert.ok(!(await list()).some((i) => ids.has(i.id)));
  });
});
