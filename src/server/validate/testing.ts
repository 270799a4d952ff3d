/**
 * Test helper: a request as its handler really receives it, through the same proto-loader
 * options as the server (defaults filled, enums as numbers, int64 as strings), so the
 * validators are tested on the wire's shapes, not on hand-written approximations.
 */
import { loadSync, type MethodDefinition } from '@grpc/proto-loader';
import { LOADER_OPTIONS, PROTO_PATH } from '../proto.ts';

export type Decode = <T>(rpc: string, request: object) => T;

export function requestDecoder(): Decode {
  const def = loadSync(PROTO_PATH, LOADER_OPTIONS);
  const methods = { ...def['runtime.v1.RuntimeService'], ...def['runtime.v1.ImageService'] } as Record<string, MethodDefinition<object, object>>;
  return <T>(rpc: string, request: object): T => {
    const m = methods[rpc];
    if (!m) throw new Error(`no RPC ${rpc}`);
    return m.requestDeserialize(m.requestSerialize(request)) as T;
  };
}

/** A pod config as the kubelet sends one. */
export function podConfig(over: object = {}): object {
  return {
    metadata: { name: 'web', namespace: 'default', uid: '0b6c9f3e-1d2a-4e5b-8c7d-9a0b1c2d3e4f', attempt: 0 },
    hostname: 'web',
    log_directory: '/var/log/pods/default_web_0b6c9f3e',
    dns_config: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
    port_mappings: [{ protocol: 0, container_port: 80, host_port: 8080, host_ip: '' }],
    labels: { app: 'web' },
    linux: {
      cgroup_parent: '/kubepods/besteffort/pod0b6c9f3e',
      sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' },
      security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 }, seccomp: { profile_type: 0 } },
    },
    ...over,
  };
}

/** A container config as the kubelet sends one. */
export function containerConfig(over: object = {}): object {
  return {
    metadata: { name: 'app', attempt: 0 },
    image: { image: 'registry.k8s.io/pause:3.9' },
    command: ['/bin/sh', '-c'],
    args: ['echo one\necho two'],
    working_dir: '/srv',
    envs: [{ key: 'MULTI', value: Buffer.from('line1\nline2') }],
    mounts: [{ container_path: '/data', host_path: '/var/lib/kubelet/pods/x/volumes/data', propagation: 0 }],
    log_path: 'app/0.log',
    linux: {
      resources: { cpu_shares: '1024', cpu_period: '100000', cpu_quota: '50000', memory_limit_in_bytes: String(64 << 20), oom_score_adj: '1000', cpuset_cpus: '0-1', cpuset_mems: '0' },
      security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 }, masked_paths: ['/proc/kcore'], readonly_paths: ['/proc/sys'] },
    },
    ...over,
  };
}
