/**
 * The container's namespaces (cri-api.md §4 items 9–10): it joins the pod's pinned network,
 * IPC and UTS namespaces (DESIGN "Pod sandboxes"), takes a PID namespace by mode, and
 * always gets its own mount namespace, plus a cgroup namespace on cgroup v2. In a pod with
 * its own user namespace (KEP-127 mode POD) it joins that one too.
 */
import type { NamespaceOption__Output } from '../../generated/cri/runtime/v1/NamespaceOption.ts';
import { NamespaceMode } from '../../generated/cri/runtime/v1/NamespaceMode.ts';
import { FailedPreconditionError, InvalidArgumentError } from '../../lib/errors.ts';
import type { IDMapping__Output } from '../../generated/cri/runtime/v1/IDMapping.ts';
import type { IdMap } from '../../network/userns.ts';
import type { PodContext } from './inputs.ts';
import type { OciNamespace } from './oci-spec.ts';

export interface NamespaceInputs {
  options: NamespaceOption__Output | null;
  pod: PodContext;
  cgroupVersion: 1 | 2;
  privileged: boolean;
}

/**
 * Network and IPC always follow the pod, whatever the container's own options say: the
 * pod pinned them, or it uses the host's (no entry at all). containerd does the same; a
 * container whose config omits namespace options (crictl, critest) must still land in
 * its pod's network.
 */
function shared(type: 'network' | 'ipc', mode: number, path: string | undefined): OciNamespace[] {
  if (mode !== NamespaceMode.POD && mode !== NamespaceMode.NODE) throw new InvalidArgumentError(`${type} namespace mode ${mode} is not supported (only POD or NODE)`);
  return path === undefined ? [] : [{ type, path }];
}

function pidNamespace(options: NamespaceOption__Output | null, pod: PodContext): OciNamespace[] {
  // An unset NamespaceOption means every mode is POD (the proto's zero value), although
  // the kubelet always sends pid = CONTAINER for pods without shareProcessNamespace.
  const mode = options?.pid ?? NamespaceMode.POD;
  switch (mode) {
    case NamespaceMode.CONTAINER:
      return [{ type: 'pid' }];
    case NamespaceMode.NODE:
      return [];
    case NamespaceMode.POD:
      if (pod.infraPid === undefined) throw new FailedPreconditionError(`pid namespace mode POD: pod ${pod.sandboxId} has no running infra process holding its PID namespace`);
      return [{ type: 'pid', path: `/proc/${pod.infraPid}/ns/pid` }];
    case NamespaceMode.TARGET:
      if (pod.targetPid === undefined) {
        throw new FailedPreconditionError(`pid namespace mode TARGET: target container ${JSON.stringify(options?.target_id ?? '')} is not running`);
      }
      return [{ type: 'pid', path: `/proc/${pod.targetPid}/ns/pid` }];
    default:
      throw new InvalidArgumentError(`unknown pid namespace mode ${String(mode)}`);
  }
}

function sameMaps(a: readonly IDMapping__Output[], b: readonly IdMap[]): boolean {
  return a.length === b.length && a.every((m, i) => m.container_id === b[i]!.containerId && m.host_id === b[i]!.hostId && m.length === b[i]!.length);
}

/**
 * The user namespace follows the pod, like network and IPC: a container that names none
 * (null userns_options) is in its pod's; one that names another is refused. The kubelet
 * sends the pod's options to every container.
 */
function userNamespace(options: NamespaceOption__Output | null, pod: PodContext): OciNamespace[] {
  const userns = options?.userns_options ?? null;
  const path = 'linux.security_context.namespace_options.userns_options';
  if (pod.userns === undefined) {
    // A nil userns_options means the host user namespace (containerd; cri-api.md §4 item 10).
    if (userns !== null && userns.mode !== NamespaceMode.NODE) {
      throw new InvalidArgumentError(`${path}.mode ${userns.mode}: pod ${pod.sandboxId} has no user namespace (its userns_options are not mode POD)`);
    }
    return [];
  }
  if (userns !== null) {
    if (userns.mode !== NamespaceMode.POD) throw new InvalidArgumentError(`${path}.mode ${userns.mode}: the container must be in its pod's user namespace (mode POD)`);
    if (!sameMaps(userns.uids, pod.userns.uids)) throw new InvalidArgumentError(`${path}.uids differ from the pod's mappings`);
    if (!sameMaps(userns.gids, pod.userns.gids)) throw new InvalidArgumentError(`${path}.gids differ from the pod's mappings`);
  }
  return [{ type: 'user', path: pod.userns.path }];
}

export function buildNamespaces(inputs: NamespaceInputs): OciNamespace[] {
  const { options, pod } = inputs;
  const out: OciNamespace[] = [
    ...userNamespace(options, pod),
    ...shared('network', options?.network ?? NamespaceMode.POD, pod.netnsPath),
    ...shared('ipc', options?.ipc ?? NamespaceMode.POD, pod.ipcnsPath),
  ];
  // UTS has no CRI mode: it follows the pod, which pins one unless it uses the host network.
  if (pod.utsnsPath !== undefined) out.push({ type: 'uts', path: pod.utsnsPath });
  // /proc of the host's PID namespace cannot be mounted by the pod's root (KEP-127 refuses hostPID too).
  if (pod.userns !== undefined && options?.pid === NamespaceMode.NODE) {
    throw new InvalidArgumentError('linux.security_context.namespace_options.pid: mode NODE cannot be combined with the pod\'s user namespace');
  }
  out.push(...pidNamespace(options, pod));
  out.push({ type: 'mount' });
  // cgroupns hides the host's cgroup tree; not on v1 nor for privileged containers, for
  // compatibility (containerd buildLinuxSpec, KEP cgroups-v2).
  if (inputs.cgroupVersion === 2 && !inputs.privileged) out.push({ type: 'cgroup' });
  return out;
}
