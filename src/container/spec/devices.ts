/**
 * Device nodes and the device cgroup (cri-api.md §4 item 20; containerd WithDevices,
 * WithHostDevices, WithAllDevicesAllowed). The caller stat()s each requested host path
 * (after resolving symlinks) and passes the results; directories of devices are not
 * expanded here.
 */
import type { Device__Output } from '../../generated/cri/runtime/v1/Device.ts';
import { InvalidArgumentError } from '../../lib/errors.ts';
import type { HostDevice } from './inputs.ts';
import type { OciDevice, OciDeviceCgroupRule } from './oci-spec.ts';

export interface DeviceInputs {
  devices: readonly Device__Output[];
  privileged: boolean;
  devicesByHostPath: ReadonlyMap<string, HostDevice>;
  /** The host's devices, given to privileged containers. */
  hostDevices: readonly HostDevice[];
}

function permissions(p: string, hostPath: string): string {
  const perms = p === '' ? 'rwm' : p;
  if (!/^[rwm]{1,3}$/.test(perms) || new Set(perms).size !== perms.length) {
    throw new InvalidArgumentError(`device ${JSON.stringify(hostPath)} has invalid permissions ${JSON.stringify(p)} (want a combination of r, w, m)`);
  }
  return perms;
}

function node(d: HostDevice, containerPath: string): OciDevice {
  return { path: containerPath, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid };
}

/**
 * Device nodes plus cgroup rules: deny everything, then allow each requested device with
 * its permissions; privileged containers get every host device and allow-all.
 * CDI devices come on top (cdi.ts applyCdiEdits).
 */
export function buildDevices(inputs: DeviceInputs): { devices: OciDevice[]; rules: OciDeviceCgroupRule[] } {
  const devices: OciDevice[] = [];
  const rules: OciDeviceCgroupRule[] = [{ allow: false, access: 'rwm' }];
  const byPath = new Map<string, number>();
  const put = (d: OciDevice): void => {
    const at = byPath.get(d.path);
    if (at === undefined) {
      byPath.set(d.path, devices.length);
      devices.push(d);
    } else {
      devices[at] = d;
    }
  };
  if (inputs.privileged) {
    for (const d of inputs.hostDevices) put(node(d, d.path));
    rules.push({ allow: true, access: 'rwm' });
  }
  for (const req of inputs.devices) {
    const containerPath = req.container_path === '' ? req.host_path : req.container_path;
    if (!containerPath.startsWith('/')) throw new InvalidArgumentError(`device container_path ${JSON.stringify(containerPath)} is not absolute`);
    const dev = inputs.devicesByHostPath.get(req.host_path);
    if (dev === undefined) throw new InvalidArgumentError(`device ${JSON.stringify(req.host_path)} is not a character or block device on this host`);
    const access = permissions(req.permissions, req.host_path);
    put(node(dev, containerPath));
    if (!inputs.privileged) rules.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access });
  }
  return { devices, rules };
}
