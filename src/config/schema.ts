/**
 * Every configuration key critter knows: its type, default, one-line documentation and
 * whether SIGHUP may change it. `deploy/critter.yaml` is generated from this table
 * (`critter config --defaults`), so the two cannot drift.
 */

export type KeyType =
  | { kind: 'string' }
  | { kind: 'path' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'strings' }
  | { kind: 'paths' }
  | { kind: 'runtimes' };

export interface KeySpec {
  type: KeyType;
  default: unknown;
  doc: string;
  reloadable?: boolean;
}

/** A runtime handler: the OCI runtime binary critter drives for a RuntimeClass. */
export interface RuntimeHandlerConfig {
  path: string;
  root: string;
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** containerd's default capability set (pkg/oci/spec.go defaultUnixCaps): least surprise for operators. */
const CONTAINERD_DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
] as const;

/** Dotted key → spec. Order here is the order of `critter config` output. */
export const SCHEMA = {
  socket: { type: { kind: 'path' }, default: '/run/critter/critter.sock', doc: 'Unix socket serving CRI RuntimeService and ImageService (mode 0660, root-only).' },
  root: { type: { kind: 'path' }, default: '/var/lib/critter', doc: 'Persistent state and storage (images, layers, pod and container records).' },
  run_root: { type: { kind: 'path' }, default: '/run/critter', doc: 'Runtime state that must not survive a reboot (namespaces, conmon sockets, exit files).' },
  log_level: { type: { kind: 'enum', values: LOG_LEVELS }, default: 'info', doc: 'Log level of the JSON log on stderr.', reloadable: true },
  cgroup_driver: { type: { kind: 'enum', values: ['cgroupfs', 'systemd'] }, default: 'cgroupfs', doc: 'How cgroups are managed; reported to the kubelet by RuntimeConfig, which must match its own.' },
  shutdown_timeout_seconds: { type: { kind: 'int', min: 0, max: 3600 }, default: 10, doc: 'On SIGTERM, how long in-flight RPCs may finish before the daemon exits. Containers are never touched.' },
  'runtime.default_handler': { type: { kind: 'string' }, default: 'runc', doc: 'Runtime handler used when a pod names none.' },
  'runtime.handlers': {
    type: { kind: 'runtimes' },
    default: { runc: { path: 'runc', root: '' }, crun: { path: 'crun', root: '' } },
    doc: 'Runtime handlers (RuntimeClass handler name → OCI runtime binary and its state root; empty root = <run_root>/runtime/<name>). A handler whose binary is missing is left out of Status.',
  },
  'runtime.conmon_path': { type: { kind: 'path' }, default: 'conmon', doc: 'conmon binary that supervises every container (found on PATH when not absolute).' },
  'runtime.criu_path': { type: { kind: 'path' }, default: 'criu', doc: 'CRIU binary for CheckpointContainer and restores (found on PATH when not absolute; optional: without it those calls fail with FAILED_PRECONDITION).' },
  'runtime.default_capabilities': { type: { kind: 'strings' }, default: [...CONTAINERD_DEFAULT_CAPABILITIES], doc: 'Capabilities of a container that asks for no change (containerd\'s 14).' },
  'runtime.seccomp_profile': { type: { kind: 'path' }, default: '/usr/share/containers/seccomp.json', doc: 'The RuntimeDefault seccomp profile (containers-common).' },
  'runtime.apparmor_profile': { type: { kind: 'string' }, default: 'critter-default', doc: 'The AppArmor profile RuntimeDefault (and an unset profile) means, where the host has AppArmor. critter-default is critter\'s own, loaded at start with apparmor_parser; another name must be loaded by the operator; unconfined applies none.' },
  'runtime.pause_image': { type: { kind: 'string' }, default: '', doc: 'Image of the infra process for pods sharing one PID namespace (containerd\'s model), pulled with registries.conf when absent and pinned. Empty = catatonit without an image (no pull needed).' },
  'runtime.reconcile_period_seconds': { type: { kind: 'int', min: 1, max: 3600 }, default: 5, doc: 'How often RUNNING containers are checked against the runtime (conmon gone, an exit file whose watch event was missed), so an exit is recorded within this long.' },
  'runtime.create_timeout_seconds': { type: { kind: 'int', min: 1, max: 3600 }, default: 240, doc: 'How long RunPodSandbox and CreateContainer may run, whoever waits: a caller that gives up (the kubelet\'s deadline during a slow CNI ADD) leaves the work running and its retry gets the same id (240 s: the kubelet\'s RunPodSandbox deadline, CRI-O\'s container_create_timeout).' },
  'runtime.exec_sync_output_budget_mib': { type: { kind: 'int', min: 32, max: 65536 }, default: 256, doc: 'Output all concurrent ExecSync calls may hold together (each is capped at 16 MiB per stream); a call whose output does not fit fails with RESOURCE_EXHAUSTED and its command is killed.' },
  'runtime.infra_command': { type: { kind: 'path' }, default: 'catatonit', doc: 'The rootfs-less infra process used when pause_image is empty.' },
  'image.registries_conf': { type: { kind: 'path' }, default: '/etc/containers/registries.conf', doc: 'containers-registries.conf(5): mirrors, rewrites, insecure and blocked registries, short names.', reloadable: true },
  'image.registries_conf_dir': { type: { kind: 'path' }, default: '/etc/containers/registries.conf.d', doc: 'Drop-ins for registries.conf, read in lexical order.', reloadable: true },
  'image.certs_dir': { type: { kind: 'path' }, default: '/etc/containers/certs.d', doc: 'Per-registry TLS material: <certs_dir>/<host[:port]>/*.crt (CAs), *.cert + *.key (client).', reloadable: true },
  'image.auth_file': { type: { kind: 'path' }, default: '', doc: 'Docker-style auth file ({"auths": …}) used when a pull carries no credentials; empty = none.', reloadable: true },
  'image.pinned_images': { type: { kind: 'strings' }, default: [], doc: 'Images reported as pinned, so the kubelet never garbage-collects them.', reloadable: true },
  'image.layer_prune_period_seconds': { type: { kind: 'int', min: 10, max: 86400 }, default: 600, doc: 'How often layers no image, container or pull needs are deleted (also once at start-up), so a crash between removing an image and its layers leaks nothing.' },
  'image.max_parallel_layers': { type: { kind: 'int', min: 1, max: 32 }, default: 3, doc: 'Layers of one image downloaded at the same time.' },
  'image.stall_timeout_seconds': { type: { kind: 'int', min: 1, max: 3600 }, default: 60, doc: 'A pull fails when no byte arrives for this long (extraction time never counts).' },
  'cni.conf_dir': { type: { kind: 'path' }, default: '/etc/cni/net.d', doc: 'CNI network configuration; the first file in lexical order is used, changes are picked up live.' },
  'cni.plugin_dirs': { type: { kind: 'paths' }, default: ['/opt/cni/bin', '/usr/lib/cni'], doc: 'Where CNI plugin binaries are looked up, in order.' },
  'cdi.spec_dirs': { type: { kind: 'paths' }, default: ['/etc/cdi', '/var/run/cdi'], doc: 'CDI spec dirs (JSON or YAML, CDI 0.3.0-0.8.0) for CDI_devices and cdi.k8s.io/* annotations; a later dir wins for a device defined twice; files are re-read when they change.' },
  'streaming.address': { type: { kind: 'string' }, default: '127.0.0.1', doc: 'Address of the exec/attach/port-forward streaming server. Keep it on loopback unless TLS is set.' },
  'streaming.port': { type: { kind: 'int', min: 0, max: 65535 }, default: 0, doc: 'Port of the streaming server; 0 = a random free port.' },
  'streaming.tls_cert': { type: { kind: 'path' }, default: '', doc: 'PEM certificate for the streaming server; empty = plain HTTP.' },
  'streaming.tls_key': { type: { kind: 'path' }, default: '', doc: 'PEM key for the streaming server.' },
  'streaming.idle_timeout_seconds': { type: { kind: 'int', min: 1, max: 86400 }, default: 14400, doc: 'A stream with no traffic for this long is closed (4 h, as the kubelet).' },
  'streaming.creation_timeout_seconds': { type: { kind: 'int', min: 1, max: 600 }, default: 30, doc: 'How long a client may take to open all the streams of a session.' },
  'metrics.enabled': { type: { kind: 'bool' }, default: true, doc: 'Serve Prometheus metrics.' },
  'metrics.address': { type: { kind: 'string' }, default: '127.0.0.1', doc: 'Metrics listener address.' },
  'metrics.port': { type: { kind: 'int', min: 0, max: 65535 }, default: 9090, doc: 'Metrics listener port (path /metrics); 0 = random.' },
  'stats.sample_period_seconds': { type: { kind: 'int', min: 1, max: 300 }, default: 10, doc: 'How often the containers and pods a stats call asked for in the last three periods are sampled; usage_nano_cores is the CPU rate over this window (10 s = cAdvisor\'s housekeeping interval).' },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof SCHEMA;

/** The effective configuration: every key present, values validated. */
export interface Config {
  socket: string;
  root: string;
  run_root: string;
  log_level: (typeof LOG_LEVELS)[number];
  cgroup_driver: 'cgroupfs' | 'systemd';
  shutdown_timeout_seconds: number;
  runtime: {
    default_handler: string;
    handlers: Record<string, RuntimeHandlerConfig>;
    conmon_path: string;
    criu_path: string;
    default_capabilities: string[];
    seccomp_profile: string;
    apparmor_profile: string;
    pause_image: string;
    infra_command: string;
    reconcile_period_seconds: number;
    create_timeout_seconds: number;
    exec_sync_output_budget_mib: number;
  };
  image: {
    registries_conf: string;
    registries_conf_dir: string;
    certs_dir: string;
    auth_file: string;
    pinned_images: string[];
    max_parallel_layers: number;
    stall_timeout_seconds: number;
    layer_prune_period_seconds: number;
  };
  cni: { conf_dir: string; plugin_dirs: string[] };
  cdi: { spec_dirs: string[] };
  streaming: {
    address: string;
    port: number;
    tls_cert: string;
    tls_key: string;
    idle_timeout_seconds: number;
    creation_timeout_seconds: number;
  };
  metrics: { enabled: boolean; address: string; port: number };
  stats: { sample_period_seconds: number };
}
