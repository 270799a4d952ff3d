import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../lib/errors.ts';
import type { RunPodSandboxRequest__Output } from '../../generated/cri/runtime/v1/RunPodSandboxRequest.ts';
import type { CreateContainerRequest__Output } from '../../generated/cri/runtime/v1/CreateContainerRequest.ts';
import type { CheckpointContainerRequest__Output } from '../../generated/cri/runtime/v1/CheckpointContainerRequest.ts';
import type { CheckpointPodRequest__Output } from '../../generated/cri/runtime/v1/CheckpointPodRequest.ts';
import type { RestorePodRequest__Output } from '../../generated/cri/runtime/v1/RestorePodRequest.ts';
import type { UpdatePodSandboxResourcesRequest__Output } from '../../generated/cri/runtime/v1/UpdatePodSandboxResourcesRequest.ts';
import type { UpdateContainerResourcesRequest__Output } from '../../generated/cri/runtime/v1/UpdateContainerResourcesRequest.ts';
import { checkCheckpointContainer, checkCheckpointPod, checkRestorePod, checkCreateContainer, checkExecCommand, checkFilter, checkPorts, checkPullImage, checkRunPodSandbox, checkUpdatePodResources, checkUpdateResources } from './requests.ts';
import { containerConfig, podConfig, requestDecoder } from './testing.ts';

const decode = requestDecoder();

function refuses(fn: () => void, field: string, value?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.ok(err.message.startsWith(`${field} `), `"${err.message}" should start with the field ${field}`);
    if (value !== undefined) assert.ok(err.message.includes(value), `"${err.message}" should show ${value}`);
    assert.ok(err.message.length < 700, `message of ${err.message.length} chars`);
    return true;
  });
}

const run = (config: object): RunPodSandboxRequest__Output => decode('RunPodSandbox', { config });
const create = (config: object, sandbox: object = podConfig()): CreateContainerRequest__Output => decode('CreateContainer', { pod_sandbox_id: 'ab12', config, sandbox_config: sandbox });
const linuxOf = (over: object): object => ({ ...(podConfig() as { linux: object }).linux, ...over });

test('checkRunPodSandbox() accepts what the kubelet sends', () => {
  checkRunPodSandbox(run(podConfig()));
  checkRunPodSandbox(run(podConfig({ linux: linuxOf({ cgroup_parent: 'kubepods-besteffort-pod0b6c9f3e.slice' }) })));
  checkRunPodSandbox(run(podConfig({ linux: linuxOf({ cgroup_parent: '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice' }) })));
  checkRunPodSandbox(run({ metadata: { name: 'a', namespace: 'b', uid: 'c' } }));
});

const badPods: [string, object, string, string?][] = [
  ['a NUL in the name', { metadata: { name: 'a\0b', namespace: 'n', uid: 'u' } }, 'config.metadata.name', '"a\\u0000b"'],
  ['a newline in the namespace', { metadata: { name: 'a', namespace: 'n\nx', uid: 'u' } }, 'config.metadata.namespace', '\\n'],
  ['a missing uid', { metadata: { name: 'a', namespace: 'n', uid: '' } }, 'config.metadata.uid'],
  ['a huge uid', { metadata: { name: 'a', namespace: 'n', uid: 'u'.repeat(100_000) } }, 'config.metadata.uid', '(100000 characters)'],
  ['a relative log_directory', podConfig({ log_directory: 'var/log' }), 'config.log_directory'],
  ['.. in log_directory', podConfig({ log_directory: '/var/log/pods/../../etc' }), 'config.log_directory', '../../etc'],
  ['an unnormalised log_directory', podConfig({ log_directory: '/var/log//pods/./x' }), 'config.log_directory'],
  ['a bad DNS server', podConfig({ dns_config: { servers: ['8.8.8.8\nnameserver 1.2.3.4'] } }), 'config.dns_config.servers[0]'],
  ['a newline in a DNS search', podConfig({ dns_config: { searches: ['a\noptions debug'] } }), 'config.dns_config.searches[0]'],
  ['an unknown protocol', podConfig({ port_mappings: [{ protocol: 7, container_port: 80 }] }), 'config.port_mappings[0].protocol', '7'],
  ['container_port 0', podConfig({ port_mappings: [{ container_port: 0 }] }), 'config.port_mappings[0].container_port'],
  ['container_port 70000', podConfig({ port_mappings: [{ container_port: 70000 }] }), 'config.port_mappings[0].container_port', '70000'],
  ['a negative host_port', podConfig({ port_mappings: [{ container_port: 80, host_port: -1 }] }), 'config.port_mappings[0].host_port'],
  ['a bad host_ip', podConfig({ port_mappings: [{ container_port: 80, host_ip: '300.1.1.1' }] }), 'config.port_mappings[0].host_ip', '300.1.1.1'],
  ['.. in cgroup_parent', podConfig({ linux: linuxOf({ cgroup_parent: '/kubepods/../../../sys' }) }), 'config.linux.cgroup_parent'],
  ['// in cgroup_parent', podConfig({ linux: linuxOf({ cgroup_parent: '/kubepods//x' }) }), 'config.linux.cgroup_parent'],
  ['a bad slice name', podConfig({ linux: linuxOf({ cgroup_parent: 'kube pods.slice' }) }), 'config.linux.cgroup_parent'],
  ['a NUL in cgroup_parent', podConfig({ linux: linuxOf({ cgroup_parent: '/kubepods\0/x' }) }), 'config.linux.cgroup_parent'],
  ['a traversing sysctl', podConfig({ linux: linuxOf({ sysctls: { 'net/../../kernel/x': '1' } }) }), 'config.linux.sysctls key'],
  ['a sysctl with empty components', podConfig({ linux: linuxOf({ sysctls: { 'net.ipv4.....x': '1' } }) }), 'config.linux.sysctls key'],
  ['a node-wide sysctl', podConfig({ linux: linuxOf({ sysctls: { 'kernel.panic': '1' } }) }), 'config.linux.sysctls key', 'kernel.panic'],
  ['net.* with the host network', podConfig({ linux: linuxOf({ sysctls: { 'net.ipv4.ip_forward': '1' }, security_context: { namespace_options: { network: 2 } } }) }), 'config.linux.sysctls key'],
  ['a newline in a sysctl value', podConfig({ linux: linuxOf({ sysctls: { 'net.ipv4.ip_forward': '1\n2' } }) }), 'config.linux.sysctls["net.ipv4.ip_forward"]'],
  ['an unknown network mode', podConfig({ linux: linuxOf({ security_context: { namespace_options: { network: 9 } } }) }), 'config.linux.security_context.namespace_options.network', '9'],
  ['pid TARGET at pod level', podConfig({ linux: linuxOf({ security_context: { namespace_options: { pid: 3, target_id: 'ab' } } }) }), 'config.linux.security_context.namespace_options.pid'],
  ['ipc CONTAINER', podConfig({ linux: linuxOf({ security_context: { namespace_options: { ipc: 1 } } }) }), 'config.linux.security_context.namespace_options.ipc'],
  ['target_id without TARGET', podConfig({ linux: linuxOf({ security_context: { namespace_options: { pid: 1, target_id: 'ab' } } }) }), 'config.linux.security_context.namespace_options.target_id'],
  ['an unknown seccomp type', podConfig({ linux: linuxOf({ security_context: { seccomp: { profile_type: 5 } } }) }), 'config.linux.security_context.seccomp.profile_type'],
  ['a traversing seccomp profile', podConfig({ linux: linuxOf({ security_context: { seccomp: { profile_type: 2, localhost_ref: '/var/lib/kubelet/seccomp/../../../../etc/shadow' } } }) }), 'config.linux.security_context.seccomp.localhost_ref'],
  ['a negative run_as_user', podConfig({ linux: linuxOf({ security_context: { run_as_user: { value: '-1' } } }) }), 'config.linux.security_context.run_as_user.value'],
  ['bad pod resources', podConfig({ linux: linuxOf({ resources: { cpu_shares: '1' } }) }), 'config.linux.resources.cpu_shares'],
  ['a NUL in a label', podConfig({ labels: { app: 'a\0' } }), 'config.labels.app'],
];
for (const [name, config, field, value] of badPods) {
  test(`checkRunPodSandbox() refuses ${name}, naming ${field}`, () => refuses(() => checkRunPodSandbox(run(config)), field, value));
}

test('checkRunPodSandbox() refuses a NUL in runtime_handler', () => {
  refuses(() => checkRunPodSandbox(decode('RunPodSandbox', { config: podConfig(), runtime_handler: 'runc\0' })), 'runtime_handler');
});

test('checkCreateContainer() accepts what the kubelet sends', () => {
  checkCreateContainer(create(containerConfig()));
  checkCreateContainer(create(containerConfig({ mounts: [{ container_path: '/img', image: { image: 'busybox' }, image_sub_path: 'etc' }] })));
  checkCreateContainer(create(containerConfig({ linux: { security_context: { namespace_options: { pid: 3, target_id: 'ab12' } } } })));
});

const sc = (o: object): object => containerConfig({ linux: { security_context: o } });
const res = (o: object): object => containerConfig({ linux: { resources: o } });
const badContainers: [string, object, string, string?][] = [
  ['no metadata', { image: { image: 'x' } }, 'config.metadata'],
  ['a NUL in the name', containerConfig({ metadata: { name: 'a\0' } }), 'config.metadata.name'],
  ['no image', containerConfig({ image: { image: '' } }), 'config.image.image'],
  ['a NUL in the image', containerConfig({ image: { image: 'busybox\0' } }), 'config.image.image'],
  ['a NUL in the command', containerConfig({ command: ['/bin/sh\0-c'] }), 'config.command[0]'],
  ['a newline in the executable', containerConfig({ command: ['/bin/sh\n'] }), 'config.command[0]'],
  ['a NUL in an argument', containerConfig({ args: ['ok', 'a\0b'] }), 'config.args[1]'],
  ['a relative working_dir', containerConfig({ working_dir: 'srv' }), 'config.working_dir'],
  ['.. in working_dir', containerConfig({ working_dir: '/srv/../../etc' }), 'config.working_dir'],
  ['= in an env key', containerConfig({ envs: [{ key: 'A=B', value: Buffer.from('x') }] }), 'config.envs[0].key'],
  ['a newline in an env key', containerConfig({ envs: [{ key: 'A\nB', value: Buffer.from('x') }] }), 'config.envs[0].key'],
  ['a NUL in an env value', containerConfig({ envs: [{ key: 'A', value: Buffer.from('x\0y') }] }), 'config.envs[0].value'],
  ['a relative mount container_path', containerConfig({ mounts: [{ container_path: 'data', host_path: '/x' }] }), 'config.mounts[0].container_path'],
  ['.. in a mount container_path', containerConfig({ mounts: [{ container_path: '/data/../../x', host_path: '/x' }] }), 'config.mounts[0].container_path'],
  ['.. in a mount host_path', containerConfig({ mounts: [{ container_path: '/data', host_path: '/var/../etc' }] }), 'config.mounts[0].host_path'],
  ['no host_path', containerConfig({ mounts: [{ container_path: '/data' }] }), 'config.mounts[0].host_path'],
  ['an unknown propagation', containerConfig({ mounts: [{ container_path: '/d', host_path: '/x', propagation: 3 }] }), 'config.mounts[0].propagation', '3'],
  ['.. in image_sub_path', containerConfig({ mounts: [{ container_path: '/d', image: { image: 'busybox' }, image_sub_path: '../../etc' }] }), 'config.mounts[0].image_sub_path'],
  ['an absolute image_sub_path', containerConfig({ mounts: [{ container_path: '/d', image: { image: 'busybox' }, image_sub_path: '/etc' }] }), 'config.mounts[0].image_sub_path'],
  ['.. in a device path', containerConfig({ devices: [{ container_path: '/dev/../etc/x', host_path: '/dev/null', permissions: 'rw' }] }), 'config.devices[0].container_path'],
  ['bad device permissions', containerConfig({ devices: [{ container_path: '/dev/x', host_path: '/dev/null', permissions: 'rwx' }] }), 'config.devices[0].permissions'],
  ['an absolute log_path', containerConfig({ log_path: '/etc/passwd' }), 'config.log_path'],
  ['.. in log_path', containerConfig({ log_path: 'app/../../../etc/cron.d/x' }), 'config.log_path'],
  ['an unknown stop signal', containerConfig({ stop_signal: 999 }), 'config.stop_signal', '999'],
  ['an unknown pid mode', sc({ namespace_options: { pid: 4 } }), 'config.linux.security_context.namespace_options.pid'],
  ['TARGET without target_id', sc({ namespace_options: { pid: 3 } }), 'config.linux.security_context.namespace_options.target_id'],
  ['a huge target_id', sc({ namespace_options: { pid: 3, target_id: 'a'.repeat(5000) } }), 'config.linux.security_context.namespace_options.target_id', '(5000 characters)'],
  ['an unknown apparmor type', sc({ apparmor: { profile_type: 3 } }), 'config.linux.security_context.apparmor.profile_type'],
  ['an unknown supplemental_groups_policy', sc({ supplemental_groups_policy: 2 }), 'config.linux.security_context.supplemental_groups_policy'],
  ['a relative masked path', sc({ masked_paths: ['proc/kcore'] }), 'config.linux.security_context.masked_paths[0]'],
  ['a NUL in run_as_username', sc({ run_as_username: 'root\0' }), 'config.linux.security_context.run_as_username'],
  ['cpu_shares 1', res({ cpu_shares: '1' }), 'config.linux.resources.cpu_shares'],
  ['cpu_shares 262145', res({ cpu_shares: '262145' }), 'config.linux.resources.cpu_shares'],
  ['cpu_period 999', res({ cpu_period: '999' }), 'config.linux.resources.cpu_period'],
  ['cpu_period 1000001', res({ cpu_period: '1000001' }), 'config.linux.resources.cpu_period'],
  ['cpu_quota 999', res({ cpu_quota: '999' }), 'config.linux.resources.cpu_quota'],
  ['cpu_quota -2', res({ cpu_quota: '-2' }), 'config.linux.resources.cpu_quota'],
  ['a negative memory limit', res({ memory_limit_in_bytes: '-5' }), 'config.linux.resources.memory_limit_in_bytes'],
  ['a 1 KiB memory limit', res({ memory_limit_in_bytes: '1024' }), 'config.linux.resources.memory_limit_in_bytes'],
  ['swap below the memory limit', res({ memory_limit_in_bytes: String(64 << 20), memory_swap_limit_in_bytes: String(32 << 20) }), 'config.linux.resources.memory_swap_limit_in_bytes'],
  ['oom_score_adj 1001', res({ oom_score_adj: '1001' }), 'config.linux.resources.oom_score_adj'],
  ['oom_score_adj -1001', res({ oom_score_adj: '-1001' }), 'config.linux.resources.oom_score_adj'],
  ['a bad cpuset', res({ cpuset_cpus: '0-3,,5' }), 'config.linux.resources.cpuset_cpus'],
  ['a descending cpuset', res({ cpuset_mems: '3-1' }), 'config.linux.resources.cpuset_mems'],
  ['a bad hugepage size', res({ hugepage_limits: [{ page_size: '2M', limit: '0' }] }), 'config.linux.resources.hugepage_limits[0].page_size'],
  ['a traversing unified key', res({ unified: { '../../memory.max': '1' } }), 'config.linux.resources.unified key'],
  ['bad sandbox_config', containerConfig(), 'sandbox_config.log_directory'],
];
for (const [name, config, field, value] of badContainers) {
  const sandbox = field.startsWith('sandbox_config') ? podConfig({ log_directory: '../x' }) : podConfig();
  test(`checkCreateContainer() refuses ${name}, naming ${field}`, () => refuses(() => checkCreateContainer(create(config, sandbox)), field, value));
}

test('checkCreateContainer() refuses a huge pod_sandbox_id', () => {
  refuses(() => checkCreateContainer(decode('CreateContainer', { pod_sandbox_id: 'f'.repeat(131072), config: containerConfig() })), 'pod_sandbox_id', '(131072 characters)');
});

test('checkUpdateResources() checks the same ranges as CreateContainer', () => {
  const upd = (linux: object): UpdateContainerResourcesRequest__Output => decode('UpdateContainerResources', { container_id: 'ab', linux });
  checkUpdateResources(upd({ cpu_shares: '512', memory_limit_in_bytes: String(64 << 20) }));
  refuses(() => checkUpdateResources(upd({ cpu_quota: '5' })), 'linux.cpu_quota', '"5"');
  refuses(() => checkUpdateResources(upd({ cpuset_cpus: 'all' })), 'linux.cpuset_cpus', '"all"');
});

test('checkExecCommand() refuses an empty command, an empty executable and NUL bytes', () => {
  checkExecCommand('cmd', ['/bin/sh', '-c', 'echo a\necho b']);
  refuses(() => checkExecCommand('cmd', []), 'cmd');
  refuses(() => checkExecCommand('cmd', ['']), 'cmd[0]');
  refuses(() => checkExecCommand('cmd', ['ls\0']), 'cmd[0]');
  refuses(() => checkExecCommand('cmd', ['ls', '-l\0']), 'cmd[1]');
});

test('checkPorts() refuses ports outside 1..65535', () => {
  checkPorts('port', [1, 80, 65535]);
  refuses(() => checkPorts('port', [80, 0]), 'port[1]');
  refuses(() => checkPorts('port', [65536]), 'port[0]');
});

test('checkPullImage() refuses NUL in the reference and never echoes credentials', () => {
  refuses(() => checkPullImage(decode('PullImage', { image: { image: 'busybox\0' } })), 'image.image');
  refuses(() => checkPullImage(decode('PullImage', { image: { image: '' } })), 'image.image');
  assert.throws(() => checkPullImage(decode('PullImage', { image: { image: 'busybox' }, auth: { password: 'hunter2\0' } })), (err: Error) => !err.message.includes('hunter2'));
});

test('checkFilter() refuses a huge id and an unknown state', () => {
  checkFilter('filter', { id: 'ab', label_selector: { a: 'b' } }, 'container');
  refuses(() => checkFilter('filter', { id: 'a'.repeat(1000) }), 'filter.id');
  refuses(() => checkFilter('filter', { id: '', state: { state: 9 as 0 } }, 'pod'), 'filter.state.state', '9');
});

test('checkUpdatePodResources() checks the resources as limits but the overhead only for its range', () => {
  const upd = (over: object): UpdatePodSandboxResourcesRequest__Output => decode('UpdatePodSandboxResources', { pod_sandbox_id: 'p1', ...over });
  checkUpdatePodResources(upd({ overhead: { memory_limit_in_bytes: String(1 << 20) }, resources: { memory_limit_in_bytes: String(64 << 20) } }));
  refuses(() => checkUpdatePodResources(upd({ resources: { memory_limit_in_bytes: '1024' } })), 'resources.memory_limit_in_bytes', '"1024"');
  refuses(() => checkUpdatePodResources(upd({ overhead: { memory_limit_in_bytes: '-1' } })), 'overhead.memory_limit_in_bytes', '"-1"');
  refuses(() => checkUpdatePodResources(upd({ pod_sandbox_id: '../x' })), 'pod_sandbox_id');
});

test('checkCheckpointContainer() needs an id, a location and a non-negative timeout', () => {
  const req = (over: object): CheckpointContainerRequest__Output => decode('CheckpointContainer', { container_id: 'ab', location: '/var/lib/kubelet/checkpoints/c.tar', timeout: '0', ...over });
  checkCheckpointContainer(req({}));
  refuses(() => checkCheckpointContainer(req({ location: '' })), 'location', 'is required');
  refuses(() => checkCheckpointContainer(req({ timeout: '-1' })), 'timeout', '"-1"');
  refuses(() => checkCheckpointContainer(req({ container_id: '../x' })), 'container_id');
});

test('checkCheckpointPod() needs a pod id, an absolute output dir and distinct container ids, and refuses options', () => {
  const req = (over: object): CheckpointPodRequest__Output => decode('CheckpointPod', { pod_sandbox_id: 'p1', output_path: '/var/lib/kubelet/checkpoints/pod', container_ids: ['a', 'b'], ...over });
  checkCheckpointPod(req({}));
  refuses(() => checkCheckpointPod(req({ pod_sandbox_id: '' })), 'pod_sandbox_id', 'is required');
  refuses(() => checkCheckpointPod(req({ output_path: '' })), 'output_path', 'is required');
  refuses(() => checkCheckpointPod(req({ output_path: 'rel/dir' })), 'output_path', '"rel/dir"');
  refuses(() => checkCheckpointPod(req({ output_path: '/a/../etc' })), 'output_path', 'without ".."');
  refuses(() => checkCheckpointPod(req({ container_ids: [] })), 'container_ids', 'at least one');
  refuses(() => checkCheckpointPod(req({ container_ids: ['a', 'a'] })), 'container_ids[1]', 'twice');
  refuses(() => checkCheckpointPod(req({ container_ids: ['a', '../x'] })), 'container_ids[1]');
  refuses(() => checkCheckpointPod(req({ options: { 'criu.tcp': 'yes' } })), 'options["criu.tcp"]', 'not an option');
});

test('checkRestorePod() needs a checkpoint dir, a pod config and uniquely named container configs', () => {
  const req = (over: object): RestorePodRequest__Output => decode('RestorePod', {
    checkpoint_path: '/var/lib/kubelet/checkpoints/pod', config: podConfig(), container_configs: [containerConfig(), containerConfig({ metadata: { name: 'side', attempt: 0 } })], ...over,
  });
  checkRestorePod(req({}));
  refuses(() => checkRestorePod(req({ checkpoint_path: '' })), 'checkpoint_path', 'is required');
  refuses(() => checkRestorePod(req({ checkpoint_path: 'x' })), 'checkpoint_path', 'absolute');
  refuses(() => checkRestorePod(req({ config: null })), 'config');
  refuses(() => checkRestorePod(req({ container_configs: [] })), 'container_configs', 'every container');
  refuses(() => checkRestorePod(req({ container_configs: [containerConfig(), containerConfig()] })), 'container_configs[1].metadata.name', 'two container configs');
  refuses(() => checkRestorePod(req({ container_configs: [containerConfig({ image: { image: '' } })] })), 'container_configs[0].image.image');
  refuses(() => checkRestorePod(req({ options: { x: 'y' } })), 'options["x"]');
});
