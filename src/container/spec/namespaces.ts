/**
 * The container's namespaces (cri-api.md §4 items 9–10): it joins the pod's pinned network,
 * IPC and UTS namespaces (DESIGN "Pod sandboxes"), takes a PID namespace by mode, and
 * always gets its own mount namespace, plus a cgroup namespace on cgroup v2.
 */
import type { NamespaceOption__Output } from '../../generated/cri/runtime/v1/NamespaceOption.ts';
import { NamespaceMode } from '../../generated/cri/runtime/v1/NamespaceMode.ts';
import { FailedPreconditionError, InvalidArgumentError, UnimplementedError } from '../../lib/errors.ts';
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

export function buildNamespaces(inputs: NamespaceInputs): OciNamespace[] {
  const { options, pod } = inputs;
  const userns = options?.userns_options ?? null;
  // A nil userns_options means the host user namespace (containerd; cri-api.md §4 item 10).
  if (userns !== null && userns.mode !== NamespaceMode.NODE) {
    throw new UnimplementedError('user namespaces (userns_options mode POD) are not supported yet');
  }
  const out: OciNamespace[] = [
    ...shared('network', options?.network ?? NamespaceMode.POD, pod.netnsPath),
    ...shared('ipc', options?.ipc ?? NamespaceMode.POD, pod.ipcnsPath),
  ];
  // UTS has no CRI mode: it follows the pod, which pins one unless it uses the host network.
  if (pod.utsnsPath !== undefined) out.push({ type: 'uts', path: pod.utsnsPath });
  out.push(...pidNamespace(options, pod));
  out.push({ type: 'mount' });
  // cgroupns hides the host's cgroup tree; not on v1 nor for privileged containers, for
  // compatibility (containerd buildLinuxSpec, KEP cgroups-v2).
  if (inputs.cgroupVersion === 2 && !inputs.privileged) out.push({ type: 'cgroup' });
  return out;
}
