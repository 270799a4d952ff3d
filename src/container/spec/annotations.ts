/**
 * config.json annotations: the CRI annotations as sent, plus the keys containerd adds
 * (pkg/cri/annotations DefaultCRIAnnotations) so OCI hooks and tools that read them work
 * the same under critter. Ours are written last so a client cannot spoof them.
 */
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig.ts';

export const ANNOTATION_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';
const ANNOTATION_CONTAINER_NAME = 'io.kubernetes.cri.container-name';
export const ANNOTATION_SANDBOX_ID = 'io.kubernetes.cri.sandbox-id';
const ANNOTATION_SANDBOX_NAME = 'io.kubernetes.cri.sandbox-name';
const ANNOTATION_SANDBOX_NAMESPACE = 'io.kubernetes.cri.sandbox-namespace';
const ANNOTATION_SANDBOX_UID = 'io.kubernetes.cri.sandbox-uid';
const ANNOTATION_IMAGE_NAME = 'io.kubernetes.cri.image-name';

export function buildAnnotations(
  config: ContainerConfig__Output,
  sandboxConfig: PodSandboxConfig__Output,
  sandboxId: string,
  imageName: string,
): Record<string, string> {
  return {
    ...config.annotations,
    [ANNOTATION_CONTAINER_TYPE]: 'container',
    [ANNOTATION_CONTAINER_NAME]: config.metadata?.name ?? '',
    [ANNOTATION_SANDBOX_ID]: sandboxId,
    [ANNOTATION_SANDBOX_NAME]: sandboxConfig.metadata?.name ?? '',
    [ANNOTATION_SANDBOX_NAMESPACE]: sandboxConfig.metadata?.namespace ?? '',
    [ANNOTATION_SANDBOX_UID]: sandboxConfig.metadata?.uid ?? '',
    [ANNOTATION_IMAGE_NAME]: imageName,
  };
}
