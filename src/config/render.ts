/**
 * Renders a configuration as commented YAML: `critter config` prints the effective one and
 * `deploy/critter.yaml` is this rendering of the defaults.
 */
import { stringify } from 'yaml';
import { SCHEMA, type Config, type KeySpec } from './schema.ts';

/** YAML text with each key's documentation as a comment above it. */
export function renderConfig(config: Config): string {
  const lines: string[] = [];
  let section = '';
  for (const [key, spec] of Object.entries(SCHEMA) as [string, KeySpec][]) {
    const parts = key.split('.');
    const indent = parts.length > 1 ? '  ' : '';
    const top = parts.length > 1 ? (parts[0] as string) : '';
    if (top !== section) {
      if (top) lines.push('', `${top}:`);
      section = top;
    }
    const value = parts.reduce<unknown>((node, p) => (node as Record<string, unknown>)[p], config);
    lines.push(`${indent}# ${spec.doc}${spec.reloadable ? ' (reloaded on SIGHUP)' : ''}`);
    const leaf = parts[parts.length - 1] as string;
    const body = stringify({ [leaf]: value }).trimEnd().split('\n');
    for (const b of body) lines.push(indent + b);
  }
  return lines.join('\n') + '\n';
}
