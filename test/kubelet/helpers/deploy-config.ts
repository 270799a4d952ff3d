/**
 * The operator's configuration files in deploy/kubelet/, read by the tests so that what the
 * README tells operators to use is what the real kubelet and kubeadm were tested with.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../critest/upstream-images.ts';

export type ConfigDoc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every YAML document of deploy/kubelet/<name>. */
export async function deployDocs(name: string): Promise<ConfigDoc[]> {
  const text = await readFile(join(await repoRoot(), 'deploy', 'kubelet', name), 'utf8');
  return parseAllDocuments(text).map((d) => d.toJSON() as ConfigDoc);
}

/** The document of one kind; throws when the file has none. */
export function docOfKind(docs: ConfigDoc[], kind: string): ConfigDoc {
  const d = docs.find((x) => x.kind === kind);
  if (!d) throw new Error(`deploy config has no ${kind}`);
  return d;
}
