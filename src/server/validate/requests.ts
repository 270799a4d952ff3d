/**
 * One validator per request shape, called first thing by its handler in server/ (DESIGN
 * convention 1): a request that fails here has done nothing yet.
 */
import type { RunPodSandboxRequest__Output } from '../../generated/cri/runtime/v1/RunPodSandboxRequest.ts';
import type { CreateContainerRequest__Output } from '../../generated/cri/runtime/v1/CreateContainerRequest.ts';
import type { UpdateContainerResourcesRequest__Output } from '../../generated/cri/runtime/v1/UpdateContainerResourcesRequest.ts';
import type { UpdatePodSandboxResourcesRequest__Output } from '../../generated/cri/runtime/v1/UpdatePodSandboxResourcesRequest.ts';
import type { CheckpointContainerRequest__Output } from '../../generated/cri/runtime/v1/CheckpointContainerRequest.ts';
import type { CheckpointPodRequest__Output } from '../../generated/cri/runtime/v1/CheckpointPodRequest.ts';
import type { RestorePodRequest__Output } from '../../generated/cri/runtime/v1/RestorePodRequest.ts';
import type { PullImageRequest__Output } from '../../generated/cri/runtime/v1/PullImageRequest.ts';
import type { PodSandboxStateValue__Output } from '../../generated/cri/runtime/v1/PodSandboxStateValue.ts';
import type { ContainerStateValue__Output } from '../../generated/cri/runtime/v1/ContainerStateValue.ts';
import { PodSandboxState } from '../../generated/cri/runtime/v1/PodSandboxState.ts';
import { ContainerState } from '../../generated/cri/runtime/v1/ContainerState.ts';
import { at, invalid } from './field.ts';
import { checkEnum } from './enums.ts';
import { checkContainerConfig, checkImageName } from './container.ts';
import { checkPodSandboxConfig } from './sandbox.ts';
import { checkResources } from './resources.ts';
import { checkArgv, checkId, checkIdShape, checkLine, checkStringMap, MAX_NAME, MAX_PATH } from './text.ts';

export { checkId } from './text.ts';
export { checkImageName } from './container.ts';

export function checkRunPodSandbox(req: RunPodSandboxRequest__Output): void {
  checkPodSandboxConfig('config', req.config);
  checkLine('runtime_handler', req.runtime_handler, MAX_NAME);
}

export function checkCreateContainer(req: CreateContainerRequest__Output): void {
  checkId('pod_sandbox_id', req.pod_sandbox_id);
  checkContainerConfig('config', req.config);
  if (req.sandbox_config) checkPodSandboxConfig('sandbox_config', req.sandbox_config);
}

export function checkCheckpointContainer(req: CheckpointContainerRequest__Output): void {
  checkId('container_id', req.container_id);
  const timeout = Number(req.timeout);
  if (!Number.isSafeInteger(timeout) || timeout < 0) throw invalid('timeout', req.timeout, 'must be a non-negative number of seconds');
  if (req.location === '') throw invalid('location', req.location, 'is required: the path of the checkpoint archive to write');
}

/** An absolute path without ".." or NUL: CheckpointPod's output_path, RestorePod's checkpoint_path. */
function checkAbsoluteDir(path: string, value: string): void {
  if (value === '') throw invalid(path, value, 'is required: an absolute directory path');
  checkLine(path, value, MAX_PATH);
  if (!value.startsWith('/') || value.split('/').includes('..')) throw invalid(path, value, 'must be an absolute path without ".."');
}

/** Neither pod RPC has runtime options yet: a key is refused, never ignored (api.proto CheckpointPodRequest.options). */
function checkNoOptions(options: Readonly<Record<string, string>> | null | undefined): void {
  const keys = Object.keys(options ?? {});
  if (keys.length > 0) throw invalid(`options[${JSON.stringify(keys[0])}]`, options![keys[0]!], 'is not an option critter knows (it has no pod checkpoint options)');
}

export function checkCheckpointPod(req: CheckpointPodRequest__Output): void {
  checkId('pod_sandbox_id', req.pod_sandbox_id);
  checkAbsoluteDir('output_path', req.output_path);
  if (req.container_ids.length === 0) throw invalid('container_ids', '', 'must name at least one running container of the pod');
  const seen = new Set<string>();
  for (const [i, id] of req.container_ids.entries()) {
    checkId(at('container_ids', i), id);
    if (seen.has(id)) throw invalid(at('container_ids', i), id, 'is listed twice');
    seen.add(id);
  }
  checkNoOptions(req.options);
}

export function checkRestorePod(req: RestorePodRequest__Output): void {
  checkAbsoluteDir('checkpoint_path', req.checkpoint_path);
  checkPodSandboxConfig('config', req.config);
  checkLine('runtime_handler', req.runtime_handler, MAX_NAME);
  checkNoOptions(req.options);
  if (req.container_configs.length === 0) throw invalid('container_configs', '', 'must hold the restore-time config of every container in the checkpoint');
  const names = new Set<string>();
  for (const [i, c] of req.container_configs.entries()) {
    const path = at('container_configs', i);
    checkContainerConfig(path, c);
    const name = c.metadata?.name ?? '';
    if (names.has(name)) throw invalid(at(at(path, 'metadata'), 'name'), name, 'is used by two container configs');
    names.add(name);
  }
}

export function checkUpdatePodResources(req: UpdatePodSandboxResourcesRequest__Output): void {
  checkId('pod_sandbox_id', req.pod_sandbox_id);
  checkResources('overhead', req.overhead, 'overhead');
  checkResources('resources', req.resources);
}

export function checkUpdateResources(req: UpdateContainerResourcesRequest__Output): void {
  checkResources('linux', req.linux);
  checkStringMap('annotations', req.annotations);
}

/** A command to exec: at least the executable, and no NUL anywhere (issue 12 class 4). */
export function checkExecCommand(path: string, cmd: readonly string[]): void {
  if (cmd.length === 0) throw invalid(path, '', 'is required (at least the executable)');
  if (cmd[0] === '') throw invalid(at(path, 0), '', 'the executable must not be empty');
  checkArgv(path, cmd);
}

export function checkPorts(path: string, ports: readonly number[]): void {
  for (const [i, p] of ports.entries()) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalid(at(path, i), p, 'must be a port number in 1..65535');
  }
}

export function checkPullImage(req: PullImageRequest__Output): void {
  checkImageName('image.image', req.image?.image ?? '');
  checkLine('image.runtime_handler', req.image?.runtime_handler ?? '', MAX_NAME);
  const auth = req.auth;
  if (auth) {
    // Credentials are never echoed: only the field is named.
    for (const f of ['username', 'password', 'auth', 'identity_token', 'registry_token'] as const) {
      if (auth[f].includes('\0') || auth[f].length > 64 * 1024) throw invalid(at('auth', f), '(not shown)', 'contains a NUL byte or is longer than 65536 characters');
    }
    checkLine('auth.server_address', auth.server_address, MAX_PATH);
  }
}

interface AnyFilter {
  id?: string;
  pod_sandbox_id?: string;
  label_selector?: Readonly<Record<string, string>>;
  state?: PodSandboxStateValue__Output | ContainerStateValue__Output | null;
}

/** List filters: an id is matched as a prefix, so only its shape matters here. */
export function checkFilter(path: string, f: AnyFilter | null, states?: 'pod' | 'container'): void {
  if (!f) return;
  if (f.id !== undefined && f.id !== '') checkIdShape(at(path, 'id'), f.id);
  if (f.pod_sandbox_id !== undefined && f.pod_sandbox_id !== '') checkIdShape(at(path, 'pod_sandbox_id'), f.pod_sandbox_id);
  checkStringMap(at(path, 'label_selector'), f.label_selector);
  if (f.state && states) checkEnum(at(at(path, 'state'), 'state'), f.state.state, states === 'pod' ? PodSandboxState : ContainerState);
}
