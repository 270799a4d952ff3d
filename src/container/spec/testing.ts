/**
 * Builders for the decoded CRI messages and spec inputs the unit tests use. Every field is
 * filled the way proto-loader decodes an empty message (defaults: true, unset messages
 * null), so a test states only what it is about.
 */
import type { ContainerConfig__Output } from '../../generated/cri/runtime/v1/ContainerConfig.ts';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources.ts';
import type { LinuxContainerSecurityContext__Output } from '../../generated/cri/runtime/v1/LinuxContainerSecurityContext.ts';
import type { Mount__Output } from '../../generated/cri/runtime/v1/Mount.ts';
import type { NamespaceOption__Output } from '../../generated/cri/runtime/v1/NamespaceOption.ts';
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig.ts';
import { CONTAINERD_DEFAULT_CAPABILITIES, type SpecInputs } from './inputs.ts';

export function securityContext(over: Partial<LinuxContainerSecurityContext__Output> = {}): LinuxContainerSecurityContext__Output {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: null,
    selinux_options: null,
    run_as_user: null,
    run_as_username: '',
    readonly_rootfs: false,
    supplemental_groups: [],
    apparmor_profile: '',
    seccomp_profile_path: '',
    no_new_privs: false,
    run_as_group: null,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
    apparmor: null,
    supplemental_groups_policy: 0,
    ...over,
  };
}

export function namespaceOptions(over: Partial<NamespaceOption__Output> = {}): NamespaceOption__Output {
  return { network: 0, pid: 1, ipc: 0, target_id: '', userns_options: null, ...over };
}

export function resources(over: Partial<LinuxContainerResources__Output> = {}): LinuxContainerResources__Output {
  return {
    cpu_period: '0',
    cpu_quota: '0',
    cpu_shares: '0',
    memory_limit_in_bytes: '0',
    oom_score_adj: '0',
    cpuset_cpus: '',
    cpuset_mems: '',
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: '0',
    ...over,
  };
}

export function mount(over: Partial<Mount__Output> = {}): Mount__Output {
  return {
    container_path: '/data',
    host_path: '/var/lib/data',
    readonly: false,
    selinux_relabel: false,
    propagation: 0,
    uidMappings: [],
    gidMappings: [],
    recursive_read_only: false,
    image: null,
    image_sub_path: '',
    mount_options: [],
    ...over,
  };
}

export function containerConfig(over: Partial<ContainerConfig__Output> = {}): ContainerConfig__Output {
  return {
    metadata: { name: 'app', attempt: 0 },
    image: { image: 'busybox:latest', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' },
    command: [],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: 'app/0.log',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: { resources: resources(), security_context: securityContext({ namespace_options: namespaceOptions() }) },
    windows: null,
    CDI_devices: [],
    stop_signal: 0,
    ...over,
  };
}

/** A config whose security context is `sc` (namespace options default to a normal pod's). */
export function withSecurity(sc: Partial<LinuxContainerSecurityContext__Output>, over: Partial<ContainerConfig__Output> = {}): ContainerConfig__Output {
  return containerConfig({
    linux: { resources: resources(), security_context: securityContext({ namespace_options: namespaceOptions(), ...sc }) },
    ...over,
  });
}

export function sandboxConfig(privileged = false): PodSandboxConfig__Output {
  return {
    metadata: { name: 'pod', uid: 'uid-1', namespace: 'default', attempt: 0 },
    hostname: 'pod',
    log_directory: '/var/log/pods/default_pod_uid-1',
    dns_config: null,
    port_mappings: [],
    labels: {},
    annotations: {},
    linux: {
      cgroup_parent: '/kubepods/besteffort/poduid-1',
      security_context: privileged
        ? {
            namespace_options: null, selinux_options: null, run_as_user: null, readonly_rootfs: false, supplemental_groups: [],
            privileged: true, seccomp_profile_path: '', run_as_group: null, seccomp: null, apparmor: null, supplemental_groups_policy: 0,
          }
        : null,
      sysctls: {},
      overhead: null,
      resources: null,
    },
    windows: null,
  };
}

/** A minimal containers-common-style profile: one plain rule, one per-capability rule. */
export const TEST_SECCOMP_PROFILE = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 38,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls: [
    { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [], includes: {}, excludes: {} },
    { names: ['mount'], action: 'SCMP_ACT_ALLOW', args: [], includes: { caps: ['CAP_SYS_ADMIN'] }, excludes: {} },
  ],
};

export function specInputs(over: Partial<SpecInputs> = {}): SpecInputs {
  return {
    containerId: 'c0ffee',
    config: containerConfig(),
    sandboxConfig: sandboxConfig(),
    imageName: 'docker.io/library/busybox:latest',
    image: { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    etcPasswd: 'root:x:0:0:root:/root:/bin/sh\n',
    etcGroup: 'root:x:0:\n',
    pod: {
      sandboxId: 'pod123',
      netnsPath: '/run/critter/ns/net/pod123',
      ipcnsPath: '/run/critter/ns/ipc/pod123',
      utsnsPath: '/run/critter/ns/uts/pod123',
      hostsPath: '/run/critter/pods/pod123/hosts',
      resolvConfPath: '/run/critter/pods/pod123/resolv.conf',
      hostnamePath: '/run/critter/pods/pod123/hostname',
      shmPath: '/run/critter/pods/pod123/shm',
      hostname: 'pod',
      cgroupParent: '/kubepods/besteffort/poduid-1',
    },
    host: {
      cgroupVersion: 1,
      cgroupDriver: 'cgroupfs',
      minOomScoreAdj: 0,
      rroSupported: true,
      apparmorEnabled: false,
      swapControllerAvailable: false,
      hostMountPropagation: () => 'private',
      hostDevices: [],
      arch: 'x64',
    },
    defaults: { defaultCapabilities: CONTAINERD_DEFAULT_CAPABILITIES, seccompDefaultProfile: TEST_SECCOMP_PROFILE },
    rootfsPath: '/var/lib/critter/containers/c0ffee/rootfs',
    devicesByHostPath: new Map(),
    ...over,
  };
}
