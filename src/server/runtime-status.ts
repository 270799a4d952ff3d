/**
 * Version, Status, RuntimeConfig and UpdateRuntimeConfig: thin translations of
 * RuntimeInfoService into CRI messages.
 */
import type { RuntimeInfoService } from '../runtime/info-service.ts';
import type { UnaryHandler } from './adapt.ts';
import type { VersionRequest__Output } from '../generated/cri/runtime/v1/VersionRequest.ts';
import type { VersionResponse } from '../generated/cri/runtime/v1/VersionResponse.ts';
import type { StatusRequest__Output } from '../generated/cri/runtime/v1/StatusRequest.ts';
import type { StatusResponse } from '../generated/cri/runtime/v1/StatusResponse.ts';
import type { RuntimeConfigRequest__Output } from '../generated/cri/runtime/v1/RuntimeConfigRequest.ts';
import type { RuntimeConfigResponse } from '../generated/cri/runtime/v1/RuntimeConfigResponse.ts';
import type { UpdateRuntimeConfigRequest__Output } from '../generated/cri/runtime/v1/UpdateRuntimeConfigRequest.ts';
import type { UpdateRuntimeConfigResponse } from '../generated/cri/runtime/v1/UpdateRuntimeConfigResponse.ts';
import { CgroupDriver } from '../generated/cri/runtime/v1/CgroupDriver.ts';
import { InvalidArgumentError } from '../lib/errors.ts';

export function versionHandler(info: RuntimeInfoService): UnaryHandler<VersionRequest__Output, VersionResponse> {
  return async () => {
    const v = info.version();
    return { version: '0.1.0', runtime_name: v.runtimeName, runtime_version: v.runtimeVersion, runtime_api_version: v.runtimeApiVersion };
  };
}

export function statusHandler(info: RuntimeInfoService): UnaryHandler<StatusRequest__Output, StatusResponse> {
  return async (req) => ({
    status: { conditions: info.conditions() },
    runtime_handlers: info.handlers().map((h) => ({
      name: h.name,
      features: { recursive_read_only_mounts: h.recursiveReadOnlyMounts, user_namespaces: h.userNamespaces },
    })),
    // Claimed only where built: Merge/Strict supplemental groups and ContainerStatus.user are.
    features: { supplemental_groups_policy: true, user_namespaces_host_network: false, mount_options: false },
    info: req.verbose ? info.verboseInfo() : {},
  });
}

export function runtimeConfigHandler(info: RuntimeInfoService): UnaryHandler<RuntimeConfigRequest__Output, RuntimeConfigResponse> {
  return async () => ({ linux: { cgroup_driver: info.cgroupDriver() === 'systemd' ? CgroupDriver.SYSTEMD : CgroupDriver.CGROUPFS } });
}

const CIDR = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

export function updateRuntimeConfigHandler(info: RuntimeInfoService): UnaryHandler<UpdateRuntimeConfigRequest__Output, UpdateRuntimeConfigResponse> {
  return async (req, op) => {
    const cidr = req.runtime_config?.network_config?.pod_cidr ?? '';
    // The kubelet may send several comma-separated CIDRs (dual stack).
    const bad = cidr.split(',').filter((c) => c !== '' && !CIDR.test(c.trim()));
    if (bad.length) throw new InvalidArgumentError(`runtime_config.network_config.pod_cidr: "${bad[0]}" is not a CIDR`);
    await info.updatePodCidr(op, cidr);
    return {};
  };
}
