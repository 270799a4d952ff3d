/**
 * The files a pod prepares once and its containers bind-mount (DESIGN: Pod sandboxes):
 * resolv.conf, hosts, hostname and a /dev/shm tmpfs, all under the pod's run dir.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Op } from '../lib/op.ts';
import { run } from '../lib/exec.ts';
import { writeFileAtomic } from '../lib/atomic-file.ts';
import { mountPoints } from '../lib/mount-points.ts';

export interface DnsSettings {
  servers: string[];
  searches: string[];
  options: string[];
}

/** Docker/kubelet shm default (64 MiB). */
const SHM_SIZE_BYTES = 64 * 1024 * 1024;

/** resolv.conf text from the pod's DNSConfig (resolv.conf(5) keywords). */
function resolvConfFrom(dns: DnsSettings): string {
  const lines = dns.servers.map((s) => `nameserver ${s}`);
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** /etc/hosts as the kubelet writes it for a pod: loopback lines, then the pod's own name. */
function hostsFileFor(hostname: string, ips: readonly string[]): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  for (const ip of ips) lines.push(`${ip}\t${hostname}`);
  return lines.join('\n') + '\n';
}

export interface PodFilesDeps {
  /** The host's resolv.conf, used when the pod has no DNSConfig. */
  hostResolvConf: string;
  hostHosts: string;
}

export class PodFiles {
  #deps: PodFilesDeps;

  constructor(deps: PodFilesDeps) {
    this.#deps = deps;
  }

  async writeResolvConf(dir: string, dns: DnsSettings | undefined): Promise<string> {
    const file = join(dir, 'resolv.conf');
    const text = dns && (dns.servers.length + dns.searches.length + dns.options.length > 0)
      ? resolvConfFrom(dns)
      : await readFile(this.#deps.hostResolvConf, 'utf8').catch(() => '');
    await writeFileAtomic(file, text, { mode: 0o644 });
    return file;
  }

  /** A host-network pod sees the host's hosts file; others get their own. */
  async writeHosts(dir: string, hostname: string, ips: readonly string[], hostNetwork: boolean): Promise<string> {
    const file = join(dir, 'hosts');
    const text = hostNetwork ? await readFile(this.#deps.hostHosts, 'utf8').catch(() => hostsFileFor(hostname, [])) : hostsFileFor(hostname, ips);
    await writeFileAtomic(file, text, { mode: 0o644 });
    return file;
  }

  async writeHostname(dir: string, hostname: string): Promise<string> {
    const file = join(dir, 'hostname');
    await writeFileAtomic(file, `${hostname}\n`, { mode: 0o644 });
    return file;
  }

  /** Mounts a private tmpfs for the pod's /dev/shm (nosuid,nodev,noexec like runc's default). */
  async mountShm(op: Op, dir: string): Promise<string> {
    const target = join(dir, 'shm');
    await mkdir(target, { recursive: true, mode: 0o755 });
    if (!(await mountPoints()).has(target)) {
      await run('mount', ['-t', 'tmpfs', '-o', `mode=1777,nosuid,nodev,noexec,size=${SHM_SIZE_BYTES}`, 'shm', target], { signal: op.signal, timeoutMs: 30_000 });
    }
    return target;
  }

  /** Unmounts the pod's shm; a no-op when it is not mounted. */
  async unmountShm(op: Op, dir: string): Promise<void> {
    const target = join(dir, 'shm');
    if ((await mountPoints()).has(target)) await run('umount', [target], { signal: op.signal, timeoutMs: 30_000 });
  }

  /** Removes the pod's run dir; its shm must already be unmounted. */
  async removeDir(op: Op, dir: string): Promise<void> {
    await this.unmountShm(op, dir);
    await rm(dir, { recursive: true, force: true });
  }
}
