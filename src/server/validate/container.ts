/** CreateContainer's config, checked field by field before the name is even reserved. */
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import type { Mount__Output } from '../../generated/cri/runtime/v1/Mount.ts';
import type { Device__Output } from '../../generated/cri/runtime/v1/Device.ts';
import { at, invalid } from './field.ts';
import { checkEnum, ENUMS } from './enums.ts';
import { checkAbsolutePath, checkRelativePath } from './paths.ts';
import { checkResources } from './resources.ts';
import { checkContainerSecurity } from './security.ts';
import { checkArgv, checkEnvKey, checkEnvValue, checkLine, checkName, checkNoNul, checkStringMap, MAX_NAME, MAX_PATH } from './text.ts';

/** An image reference or id as a text field; its grammar is image/reference.ts's. */
export function checkImageName(path: string, value: string): void {
  if (value === '') throw invalid(path, value, 'an image reference or id is required');
  checkLine(path, value, MAX_PATH);
}

function checkMount(path: string, m: Mount__Output): void {
  checkAbsolutePath(at(path, 'container_path'), m.container_path, { required: true });
  // An image volume has no host path; its sub-path stays inside the image.
  checkAbsolutePath(at(path, 'host_path'), m.host_path, { required: m.image === null || m.image.image === '' });
  checkEnum(at(path, 'propagation'), m.propagation, ENUMS.MountPropagation);
  if (m.image) checkLine(at(at(path, 'image'), 'image'), m.image.image, MAX_PATH);
  checkRelativePath(at(path, 'image_sub_path'), m.image_sub_path);
  for (const [i, o] of m.mount_options.entries()) checkLine(at(at(path, 'mount_options'), i), o, MAX_NAME);
}

function checkDevice(path: string, d: Device__Output): void {
  checkAbsolutePath(at(path, 'container_path'), d.container_path, { required: true });
  checkAbsolutePath(at(path, 'host_path'), d.host_path, { required: true });
  if (!/^[rwm]{0,3}$/.test(d.permissions)) throw invalid(at(path, 'permissions'), d.permissions, 'must be a combination of r, w and m');
}

export function checkContainerConfig(path: string, c: ContainerConfig__Output | null): asserts c is ContainerConfig__Output {
  if (!c) throw invalid(path, '', 'is required');
  if (!c.metadata) throw invalid(at(path, 'metadata'), '', 'is required');
  checkName(at(at(path, 'metadata'), 'name'), c.metadata.name);
  checkImageName(at(at(path, 'image'), 'image'), c.image?.image ?? '');
  checkArgv(at(path, 'command'), c.command);
  // With no command, args[0] is what runs (after the image's entrypoint, if any).
  for (const [i, a] of c.args.entries()) checkNoNul(at(at(path, 'args'), i), a);
  checkAbsolutePath(at(path, 'working_dir'), c.working_dir);
  for (const [i, kv] of c.envs.entries()) {
    checkEnvKey(at(at(at(path, 'envs'), i), 'key'), kv.key);
    checkEnvValue(at(at(at(path, 'envs'), i), 'value'), kv.value);
  }
  for (const [i, m] of c.mounts.entries()) checkMount(at(at(path, 'mounts'), i), m);
  for (const [i, d] of c.devices.entries()) checkDevice(at(at(path, 'devices'), i), d);
  for (const [i, d] of c.CDI_devices.entries()) checkLine(at(at(at(path, 'CDI_devices'), i), 'name'), d.name, MAX_NAME);
  checkStringMap(at(path, 'labels'), c.labels);
  checkStringMap(at(path, 'annotations'), c.annotations);
  // The kubelet sends `<container name>/<restart count>.log`, joined to the pod's log_directory.
  checkRelativePath(at(path, 'log_path'), c.log_path, { normalised: true });
  checkEnum(at(path, 'stop_signal'), c.stop_signal, ENUMS.Signal);
  if (c.linux) {
    checkResources(at(at(path, 'linux'), 'resources'), c.linux.resources);
    checkContainerSecurity(at(at(path, 'linux'), 'security_context'), c.linux.security_context);
  }
}
