/**
 * Hostile CRI requests for the storm test: each is wrong in one way a kubelet never is,
 * and each must be refused (never OK) with a code that is not critter's own fault.
 */
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface HostileRequest {
  rpc: string;
  req: Any;
  what: string;
}

export interface HostileTargets {
  /** A live pod and container: hostile creates and updates are aimed at them. */
  podId: string;
  ctrId: string;
  podConfig: Any;
  containerConfig: Any;
  count: number;
}

const HUGE = 'f'.repeat(128 * 1024);
/** Ids no kubelet sends: huge, NUL, newline, empty. */
const BAD_IDS = [HUGE, 'ab\0cd', 'ab\ncd', '', '../../etc', 'a'.repeat(129)];
const TRAVERSALS = ['../../../../etc/passwd', '/var/log/../../etc', 'a/../../b', '..'];

function withLinux(base: Any, linux: Any): Any {
  return { ...base, linux: { ...base['linux'], ...linux } };
}

function podMutations(pod: Any): [string, Any][] {
  const sc = (o: Any): Any => withLinux(pod, { security_context: { ...pod['linux']['security_context'], ...o } });
  const ns = (o: Any): Any => sc({ namespace_options: { ...pod['linux']['security_context']['namespace_options'], ...o } });
  return [
    ['NUL in the name', { ...pod, metadata: { ...pod['metadata'], name: 'a\0b' } }],
    ['huge namespace', { ...pod, metadata: { ...pod['metadata'], namespace: HUGE } }],
    ['newline in the uid', { ...pod, metadata: { ...pod['metadata'], uid: 'u\nid' } }],
    ...TRAVERSALS.map((p): [string, Any] => [`log_directory ${p}`, { ...pod, log_directory: p }]),
    ['NUL in log_directory', { ...pod, log_directory: '/var/log/\0x' }],
    ['cgroup_parent traversal', withLinux(pod, { cgroup_parent: '/kubepods/../../../' })],
    ['cgroup_parent bad slice', withLinux(pod, { cgroup_parent: 'a b.slice' })],
    ['sysctl net/../..', withLinux(pod, { sysctls: { 'net/../../kernel/core_pattern': '|/bin/sh' } })],
    ['sysctl net.ipv4.....x', withLinux(pod, { sysctls: { 'net.ipv4.....x': '1' } })],
    ['node-wide sysctl', withLinux(pod, { sysctls: { 'kernel.core_pattern': '|/tmp/x' } })],
    ['net sysctl with host network', withLinux(pod, { sysctls: { 'net.ipv4.ip_forward': '1' } })],
    ['bad protocol', { ...pod, port_mappings: [{ protocol: 9, container_port: 80 }] }],
    ['container_port 0', { ...pod, port_mappings: [{ container_port: 0 }] }],
    ['host_port 99999', { ...pod, port_mappings: [{ container_port: 80, host_port: 99999 }] }],
    ['bad host_ip', { ...pod, port_mappings: [{ container_port: 80, host_port: 8080, host_ip: '1.2.3' }] }],
    ['network mode 7', ns({ network: 7 })],
    ['pid TARGET at pod level', ns({ pid: 3, target_id: 'abc' })],
    ['target_id without TARGET', ns({ target_id: 'abc' })],
    ['seccomp type 9', sc({ seccomp: { profile_type: 9 } })],
    ['seccomp traversal', sc({ seccomp: { profile_type: 2, localhost_ref: '/var/lib/kubelet/seccomp/../../../../etc/shadow' } })],
    ['apparmor type 4', sc({ apparmor: { profile_type: 4 } })],
    ['dns newline', { ...pod, dns_config: { servers: ['1.1.1.1\nnameserver 6.6.6.6'] } }],
    ['bad pod resources', withLinux(pod, { resources: { cpu_quota: '5' } })],
    ['NUL runtime handler', pod],
  ];
}

function containerMutations(ctr: Any): [string, Any][] {
  const sc = (o: Any): Any => withLinux(ctr, { security_context: { ...ctr['linux']['security_context'], ...o } });
  const res = (o: Any): Any => withLinux(ctr, { resources: o });
  const mount = (o: Any): Any => ({ ...ctr, mounts: [{ container_path: '/data', host_path: '/tmp', ...o }] });
  return [
    ['NUL in the name', { ...ctr, metadata: { name: 'x\0y' } }],
    ['huge name', { ...ctr, metadata: { name: HUGE } }],
    ['NUL in the image', { ...ctr, image: { image: 'busybox\0' } }],
    ['NUL in the command', { ...ctr, command: ['/bin/sh\0'] }],
    ['NUL in an argument', { ...ctr, args: ['a\0b'] }],
    ['= in an env key', { ...ctr, envs: [{ key: 'A=B', value: Buffer.from('v') }] }],
    ['NUL in an env value', { ...ctr, envs: [{ key: 'A', value: Buffer.from('v\0') }] }],
    ...TRAVERSALS.map((p): [string, Any] => [`log_path ${p}`, { ...ctr, log_path: p }]),
    ['absolute log_path', { ...ctr, log_path: '/etc/cron.d/evil' }],
    ...TRAVERSALS.map((p): [string, Any] => [`working_dir ${p}`, { ...ctr, working_dir: p }]),
    ...TRAVERSALS.map((p): [string, Any] => [`mount container_path ${p}`, mount({ container_path: p })]),
    ...TRAVERSALS.map((p): [string, Any] => [`mount host_path ${p}`, mount({ host_path: p })]),
    ['image_sub_path traversal', mount({ host_path: '', image: { image: 'busybox' }, image_sub_path: '../../../etc' })],
    ['propagation 5', mount({ propagation: 5 })],
    ['device traversal', { ...ctr, devices: [{ container_path: '/dev/../etc/x', host_path: '/dev/null', permissions: 'rwm' }] }],
    ['masked path traversal', sc({ masked_paths: ['/proc/../etc'] })],
    ['pid mode 8', sc({ namespace_options: { network: 2, pid: 8, ipc: 0 } })],
    ['TARGET without target_id', sc({ namespace_options: { network: 2, pid: 3, ipc: 0 } })],
    ['huge target_id', sc({ namespace_options: { network: 2, pid: 3, ipc: 0, target_id: HUGE } })],
    ['seccomp type 3', sc({ seccomp: { profile_type: 3 } })],
    ['stop signal 999', { ...ctr, stop_signal: 999 }],
    ['cpu_shares 1', res({ cpu_shares: '1' })],
    ['cpu_period 10', res({ cpu_period: '10' })],
    ['cpu_quota 5', res({ cpu_quota: '5' })],
    ['memory 1 byte', res({ memory_limit_in_bytes: '1' })],
    ['memory negative', res({ memory_limit_in_bytes: '-4096' })],
    ['oom_score_adj 5000', res({ oom_score_adj: '5000' })],
    ['cpuset garbage', res({ cpuset_cpus: '0-3;rm -rf /' })],
    ['unified traversal', res({ unified: { '../../../cgroup.procs': '1' } })],
  ];
}

/** The request templates, cheap ones first; `expensive` ones spawn a runtime and are sent only a few times. */
function templates(t: HostileTargets): { rpc: string; req: Any; what: string; expensive?: boolean }[] {
  const out: { rpc: string; req: Any; what: string; expensive?: boolean }[] = [];
  const ids = BAD_IDS.map((id, i) => ({ id, name: `bad id #${i}` }));
  for (const { id, name } of ids) {
    for (const rpc of ['ContainerStatus', 'StartContainer', 'StopContainer', 'RemoveContainer', 'ContainerStats', 'ReopenContainerLog', 'UpdateContainerResources']) out.push({ rpc, req: { container_id: id }, what: name });
    out.push({ rpc: 'ExecSync', req: { container_id: id, cmd: ['true'] }, what: name });
    out.push({ rpc: 'Exec', req: { container_id: id, cmd: ['true'], stdout: true }, what: name });
    out.push({ rpc: 'Attach', req: { container_id: id, stdout: true }, what: name });
    for (const rpc of ['PodSandboxStatus', 'StopPodSandbox', 'RemovePodSandbox', 'PodSandboxStats']) out.push({ rpc, req: { pod_sandbox_id: id }, what: name });
    out.push({ rpc: 'PortForward', req: { pod_sandbox_id: id, port: [80] }, what: name });
    out.push({ rpc: 'CreateContainer', req: { pod_sandbox_id: id, config: t.containerConfig, sandbox_config: t.podConfig }, what: name });
    out.push({ rpc: 'ListContainers', req: { filter: { id: `${id}x`.repeat(id === '' ? 200 : 1) } }, what: `filter ${name}` });
  }
  // Well-formed ids that name nothing: NOT_FOUND (Stop and Remove are idempotent, so not those).
  for (const rpc of ['ContainerStatus', 'StartContainer', 'ContainerStats']) out.push({ rpc, req: { container_id: 'abc123'.repeat(10) }, what: 'unknown id' });
  out.push({ rpc: 'PodSandboxStatus', req: { pod_sandbox_id: 'abc123'.repeat(10) }, what: 'unknown id' });
  for (const [what, config] of podMutations(t.podConfig)) {
    out.push({ rpc: 'RunPodSandbox', req: { config, runtime_handler: what === 'NUL runtime handler' ? 'runc\0' : '' }, what });
  }
  for (const [what, config] of containerMutations(t.containerConfig)) out.push({ rpc: 'CreateContainer', req: { pod_sandbox_id: t.podId, config, sandbox_config: t.podConfig }, what });
  for (const [what, r] of [['quota 5', { cpu_quota: '5' }], ['shares 999999', { cpu_shares: '999999' }], ['cpuset 3-1', { cpuset_cpus: '3-1' }], ['swap < memory', { memory_limit_in_bytes: String(64 << 20), memory_swap_limit_in_bytes: String(8 << 20) }], ['hugepage size', { hugepage_limits: [{ page_size: 'huge', limit: '1' }] }]] as const) {
    out.push({ rpc: 'UpdateContainerResources', req: { container_id: t.ctrId, linux: r }, what });
  }
  for (const [what, cmd] of [['empty cmd', []], ['empty executable', ['']], ['NUL cmd', ['ls\0']], ['NUL arg', ['ls', '\0']], ['newline executable', ['ls\n']]] as const) {
    out.push({ rpc: 'ExecSync', req: { container_id: t.ctrId, cmd }, what });
    out.push({ rpc: 'Exec', req: { container_id: t.ctrId, cmd, stdout: true }, what });
  }
  out.push({ rpc: 'ExecSync', req: { container_id: t.ctrId, cmd: ['/no/such/binary'] }, what: 'missing binary', expensive: true });
  out.push({ rpc: 'Exec', req: { container_id: t.ctrId, cmd: ['true'], tty: true, stderr: true, stdout: true }, what: 'tty with stderr' });
  for (const port of [0, -1, 65536, 1 << 30]) out.push({ rpc: 'PortForward', req: { pod_sandbox_id: t.podId, port: [port] }, what: `port ${port}` });
  for (const ref of ['host:99999/x', 'host:0/x', 'UPPER/x', 'a b', 'x'.repeat(10 * 1024), 'busybox\0', 'busybox@sha256:zz', 'a//b', '-x', 'busybox:-bad']) {
    out.push({ rpc: 'PullImage', req: { image: { image: ref } }, what: `ref ${ref.slice(0, 20)}` });
  }
  for (const ref of ['busybox\0', HUGE, 'a\nb']) {
    out.push({ rpc: 'ImageStatus', req: { image: { image: ref } }, what: 'bad image name' });
    out.push({ rpc: 'RemoveImage', req: { image: { image: ref } }, what: 'bad image name' });
    out.push({ rpc: 'ListImages', req: { filter: { image: { image: ref } } }, what: 'bad image filter' });
  }
  out.push({ rpc: 'ListContainers', req: { filter: { state: { state: 17 } } }, what: 'unknown state' });
  out.push({ rpc: 'ListPodSandbox', req: { filter: { state: { state: 5 } } }, what: 'unknown state' });
  out.push({ rpc: 'ListPodSandbox', req: { filter: { id: HUGE } }, what: 'huge filter id' });
  out.push({ rpc: 'ListContainerStats', req: { filter: { pod_sandbox_id: 'a\0' } }, what: 'NUL filter id' });
  out.push({ rpc: 'StopContainer', req: { container_id: t.ctrId, timeout: '-5' }, what: 'negative timeout' });
  // Pod checkpoints: each refused before anything is paused or created.
  for (const { id, name } of ids) out.push({ rpc: 'CheckpointPod', req: { pod_sandbox_id: t.podId, output_path: '/tmp', container_ids: [id] }, what: `container ${name}` });
  for (const p of [...TRAVERSALS, '', '/tmp/\0x', HUGE]) {
    out.push({ rpc: 'CheckpointPod', req: { pod_sandbox_id: t.podId, output_path: p, container_ids: [t.ctrId] }, what: `output_path ${p.slice(0, 20)}` });
    out.push({ rpc: 'RestorePod', req: { checkpoint_path: p, config: t.podConfig, container_configs: [t.containerConfig] }, what: `checkpoint_path ${p.slice(0, 20)}` });
  }
  out.push({ rpc: 'CheckpointPod', req: { pod_sandbox_id: t.podId, output_path: '/tmp', container_ids: [t.ctrId, t.ctrId] }, what: 'duplicate container' });
  out.push({ rpc: 'CheckpointPod', req: { pod_sandbox_id: t.podId, output_path: '/', container_ids: [t.ctrId], options: { x: 'y' } }, what: 'unknown option' });
  out.push({ rpc: 'RestorePod', req: { checkpoint_path: '/etc', config: t.podConfig, container_configs: [t.containerConfig] }, what: 'not a checkpoint' });
  out.push({ rpc: 'RestorePod', req: { checkpoint_path: '/etc', config: t.podConfig, container_configs: [t.containerConfig, t.containerConfig] }, what: 'duplicate container name' });
  for (const [what, config] of podMutations(t.podConfig).slice(0, 4)) out.push({ rpc: 'RestorePod', req: { checkpoint_path: '/etc', config, container_configs: [t.containerConfig] }, what: `pod ${what}` });
  return out;
}

/** `count` requests cycling through every template; the expensive ones at most 10 times each. */
export function hostileRequests(t: HostileTargets): HostileRequest[] {
  const all = templates(t);
  const cheap = all.filter((x) => !x.expensive);
  const expensive = all.filter((x) => x.expensive);
  const out: HostileRequest[] = [];
  for (let round = 0; round < 10; round++) for (const x of expensive) out.push({ rpc: x.rpc, req: x.req, what: x.what });
  for (let i = 0; out.length < t.count; i++) {
    const x = cheap[i % cheap.length]!;
    out.push({ rpc: x.rpc, req: x.req, what: x.what });
  }
  // Interleaved, so the slow ones do not all run at once or at the end.
  return out.map((r, i) => ({ r, k: (i * 7919) % out.length })).sort((a, b) => a.k - b.k).map((x) => x.r);
}
