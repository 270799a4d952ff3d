/**
 * Finds the Kubernetes binaries the real-client tests drive (kubelet, kubeadm, kubectl, the
 * control plane, crictl). They are not part of the project and not installed by the set-up
 * script: a developer builds them from a Kubernetes release and points the tests at them with
 * one variable per binary (`KUBELET`, `KUBEADM`, `KUBE_APISERVER`, …, `CRICTL`) or a directory
 * holding them all (`KUBE_BIN_DIR`), else PATH. Where one is absent the tests that need it
 * skip with a message saying they were NOT run, never silently.
 */
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

export type KubeBinary = 'kubelet' | 'kubeadm' | 'kubectl' | 'kube-apiserver' | 'kube-controller-manager'
  | 'kube-scheduler' | 'kube-proxy' | 'etcd' | 'crictl' | 'ginkgo' | 'e2e_node.test' | 'agnhost';

/** `kube-apiserver` → `KUBE_APISERVER`, `e2e_node.test` → `E2E_NODE_TEST`. */
export function envNameOf(name: KubeBinary): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(() => true, () => false);
}

/** The binary's path, or undefined when none is found. */
export async function findKubeBinary(name: KubeBinary, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const explicit = env[envNameOf(name)];
  if (explicit) return (await executable(explicit)) ? explicit : undefined;
  const dirs = [...(env.KUBE_BIN_DIR ? [env.KUBE_BIN_DIR] : []), ...(env.PATH ?? '').split(delimiter).filter(Boolean)];
  for (const d of dirs) {
    if (await executable(join(d, name))) return join(d, name);
  }
  return undefined;
}

/** Every binary found, or the skip message naming the missing ones. */
export async function findKubeBinaries<N extends KubeBinary>(names: readonly N[], suite: string): Promise<{ paths: Record<N, string>; skip: false } | { skip: string }> {
  const paths = {} as Record<N, string>;
  const missing: string[] = [];
  for (const n of names) {
    const p = await findKubeBinary(n);
    if (p === undefined) missing.push(`${n} (${envNameOf(n)})`);
    else paths[n] = p;
  }
  if (missing.length > 0) {
    const msg = `${suite} NOT run: no ${missing.join(', ')} found; set the variables or KUBE_BIN_DIR to binaries built from a Kubernetes release`;
    process.stderr.write(`\n*** ${msg} ***\n\n`);
    return { skip: msg };
  }
  return { paths, skip: false };
}
