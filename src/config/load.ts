/**
 * Builds the effective configuration: defaults, then the main YAML file, then its drop-ins
 * (`<dir of file>/critter.d/*.yaml`, lexical order), then command-line flags. The result
 * is validated once and frozen (style-anchors §8.15).
 */
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InvalidArgumentError } from '../lib/errors.ts';
import { SCHEMA, type Config, type ConfigKey, type KeySpec } from './schema.ts';
import { validateValue } from './validate.ts';
import { isValidProfileName } from '../lib/apparmor-name.ts';

const DEFAULT_CONFIG_FILE = '/etc/critter/critter.yaml';

export interface LoadOptions {
  /** Main file. When it is the default and absent, defaults apply; an explicit file must exist. */
  file?: string;
  /** Values from flags, by dotted key, applied last. */
  overrides?: Partial<Record<ConfigKey, unknown>>;
}

/** The loaded config and the files it came from (for `critter config` and Status verbose info). */
export interface LoadedConfig {
  config: Config;
  sources: string[];
}

/** Loads, merges and validates; throws InvalidArgumentError naming file, key and value. */
export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const file = opts.file ?? DEFAULT_CONFIG_FILE;
  const values = new Map<string, unknown>();
  for (const [key, spec] of Object.entries(SCHEMA) as [ConfigKey, KeySpec][]) values.set(key, structuredClone(spec.default));
  const sources: string[] = [];
  const mainText = await readOptional(file, opts.file !== undefined);
  if (mainText !== undefined) {
    applyYaml(values, mainText, file);
    sources.push(file);
  }
  const dropInDir = join(dirname(file), 'critter.d');
  for (const name of await listDropIns(dropInDir)) {
    const path = join(dropInDir, name);
    applyYaml(values, await readFile(path, 'utf8'), path);
    sources.push(path);
  }
  for (const [key, raw] of Object.entries(opts.overrides ?? {})) {
    const spec = (SCHEMA as Record<string, KeySpec>)[key];
    if (!spec) throw new InvalidArgumentError(`flags: unknown key "${key}"`);
    if (raw !== undefined) values.set(key, validateValue(spec.type, raw, key, 'flags'));
  }
  const config = toConfig(values);
  checkConsistency(config);
  return { config: deepFreeze(config), sources };
}

/** Parses and validates one file without touching the machine: `critter config --validate`. */
export async function validateConfigFile(file: string): Promise<void> {
  const values = new Map<string, unknown>();
  applyYaml(values, await readFile(file, 'utf8'), file);
}

async function readOptional(file: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
    throw new InvalidArgumentError(`cannot read config file ${file}`, { cause: err });
  }
}

async function listDropIns(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new InvalidArgumentError(`cannot read drop-in directory ${dir}`, { cause: err });
  }
}

function applyYaml(values: Map<string, unknown>, text: string, source: string): void {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new InvalidArgumentError(`${source}: not valid YAML`, { cause: err });
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new InvalidArgumentError(`${source}: the top level must be a map of keys`);
  walk(values, doc as Record<string, unknown>, '', source);
}

function walk(values: Map<string, unknown>, node: Record<string, unknown>, prefix: string, source: string): void {
  for (const [k, v] of Object.entries(node)) {
    const key = prefix + k;
    const spec = (SCHEMA as Record<string, KeySpec>)[key];
    if (spec) {
      values.set(key, validateValue(spec.type, v, key, source));
    } else if (isSection(key) && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      walk(values, v as Record<string, unknown>, key + '.', source);
    } else {
      throw new InvalidArgumentError(`${source}: unknown key "${key}" (value ${JSON.stringify(v)})`);
    }
  }
}

function isSection(key: string): boolean {
  return Object.keys(SCHEMA).some((k) => k.startsWith(key + '.'));
}

function toConfig(values: Map<string, unknown>): Config {
  const out: Record<string, unknown> = {};
  for (const [key, value] of values) {
    const parts = key.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1] as string] = value;
  }
  return out as unknown as Config;
}

function checkConsistency(config: Config): void {
  const handlers = config.runtime.handlers;
  if (!handlers[config.runtime.default_handler]) {
    throw new InvalidArgumentError(`key "runtime.default_handler": value "${config.runtime.default_handler}" names no handler in runtime.handlers (${Object.keys(handlers).join(', ') || 'none'})`);
  }
  for (const [name, h] of Object.entries(handlers)) if (!h.root) h.root = join(config.run_root, 'runtime', name);
  const aa = config.runtime.apparmor_profile;
  if (aa !== 'unconfined' && !isValidProfileName(aa)) {
    throw new InvalidArgumentError(`key "runtime.apparmor_profile": value ${JSON.stringify(aa.slice(0, 256))} is not an AppArmor profile name (letters, digits and _ . + : @ / -)`);
  }
  if ((config.streaming.tls_cert === '') !== (config.streaming.tls_key === '')) {
    throw new InvalidArgumentError('keys "streaming.tls_cert" and "streaming.tls_key" must be set together');
  }
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}
