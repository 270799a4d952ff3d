/** RunPodSandbox's config (and CreateContainer's copy of it), checked field by field. */
import type { PodSandboxConfig__Output } from '../../generated/cri/runtime/v1/PodSandboxConfig.ts';
import { NamespaceMode } from '../../generated/cri/runtime/v1/NamespaceMode.ts';
import { at, invalid } from './field.ts';
import { checkDnsConfig, checkPortMappings, checkSysctls } from './network.ts';
import { checkAbsolutePath, checkCgroupParent } from './paths.ts';
import { checkResources } from './resources.ts';
import { checkPodSecurity } from './security.ts';
import { checkLine, checkName, checkStringMap, MAX_NAME } from './text.ts';

export function checkPodSandboxConfig(path: string, config: PodSandboxConfig__Output | null): asserts config is PodSandboxConfig__Output {
  if (!config) throw invalid(path, '', 'is required');
  const md = config.metadata;
  if (!md) throw invalid(at(path, 'metadata'), '', 'is required');
  checkName(at(at(path, 'metadata'), 'name'), md.name);
  checkName(at(at(path, 'metadata'), 'namespace'), md.namespace);
  checkName(at(at(path, 'metadata'), 'uid'), md.uid);
  checkLine(at(path, 'hostname'), config.hostname, MAX_NAME);
  // The kubelet's /var/log/pods/<ns>_<name>_<uid>: container log paths are joined to it.
  checkAbsolutePath(at(path, 'log_directory'), config.log_directory, { normalised: true });
  checkDnsConfig(at(path, 'dns_config'), config.dns_config);
  checkPortMappings(at(path, 'port_mappings'), config.port_mappings);
  checkStringMap(at(path, 'labels'), config.labels);
  checkStringMap(at(path, 'annotations'), config.annotations);
  const linux = config.linux;
  if (!linux) return;
  const lp = at(path, 'linux');
  checkCgroupParent(at(lp, 'cgroup_parent'), linux.cgroup_parent);
  checkPodSecurity(at(lp, 'security_context'), linux.security_context);
  const ns = linux.security_context?.namespace_options;
  checkSysctls(at(lp, 'sysctls'), linux.sysctls ?? {}, { net: ns?.network !== NamespaceMode.NODE, ipc: ns?.ipc !== NamespaceMode.NODE });
  checkResources(at(lp, 'overhead'), linux.overhead, 'overhead');
  checkResources(at(lp, 'resources'), linux.resources);
}
