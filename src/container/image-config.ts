/**
 * The fields of an image config that reach a container (issue 12 classes 1 and 2): the
 * image's author is not the operator, so WorkingDir, Entrypoint, Cmd, Env, User, Volumes and
 * StopSignal are checked before anything is created for a container. A bad one makes the
 * image unusable: FailedPreconditionError naming the image and the field, with the value
 * bounded (and env values never shown: they may be secrets), instead of a spec runc refuses
 * under UNKNOWN or a syscall on a path that is not one.
 *
 * Limits are the kernel's: PATH_MAX for paths, MAX_ARG_STRLEN for one argv or env string,
 * LOGIN_NAME_MAX for user and group names; argv and env each get 1 MiB of the usual 2 MiB
 * ARG_MAX (a quarter of the default 8 MiB stack), so that both fit together with the config's.
 */
import { FailedPreconditionError, InvalidArgumentError } from '../lib/errors.ts';
import { quoteBounded } from '../storage/errors.ts';
import type { ImageConfig } from './spec/inputs.ts';
import { normalizeSignalName, signalEnumOf } from './stop-signal.ts';
import { Signal } from '../generated/cri/runtime/v1/Signal.ts';

/** linux/limits.h PATH_MAX, which counts the terminating NUL. */
export const PATH_MAX = 4096;
/** linux/binfmts.h MAX_ARG_STRLEN (32 pages), with its NUL. */
export const MAX_ARG_STRLEN = 32 * 4096;
export const ARGV_TOTAL_MAX = 1024 * 1024;
export const ENV_TOTAL_MAX = 1024 * 1024;
/** sysconf(_SC_LOGIN_NAME_MAX) on Linux. */
const LOGIN_NAME_MAX = 256;
/** More than any real image declares; each one is a directory made at CreateContainer. */
export const VOLUMES_MAX = 1024;
/** "SIGRTMAX-14" is the longest signal name. */
const SIGNAL_NAME_MAX = 16;

/** Bytes as execve(2) counts them: UTF-8 plus the NUL. */
const execLen = (s: string): number => Buffer.byteLength(s) + 1;

/** Why a path-like value is not one, or undefined. */
function pathProblem(value: string, absolute: boolean): string | undefined {
  if (value.includes('\0')) return 'contains a NUL byte';
  if (/[\n\r]/.test(value)) return 'contains a newline';
  if (execLen(value) > PATH_MAX) return `is too long (${execLen(value) - 1} bytes; at most ${PATH_MAX - 1})`;
  if (absolute && !value.startsWith('/')) return 'is not an absolute path';
  return undefined;
}

/** The image as messages name it: the reference asked for, bounded, and the short id. */
export function imageLabel(requested: string, id: string): string {
  const short = id.replace(/^sha256:/, '').slice(0, 12);
  return requested === '' ? short : `${quoteBounded(requested)} (${short})`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The config's fields CreateContainer uses, checked, as a fresh object (the stored config
 * is frozen and shared). `image` names the image in messages, already quoted and bounded
 * (imageLabel()). Labels are left out: nothing of a container uses them.
 * @throws FailedPreconditionError naming the image and the field
 */
export function checkImageConfig(image: string, raw: unknown): ImageConfig {
  const fail = (field: string, why: string): never => {
    throw new FailedPreconditionError(`image ${image} is unusable: config ${field} ${why}`);
  };
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) return fail('', 'is not a JSON object');
  const out: ImageConfig = {};

  const optionalString = (field: string): string | undefined => {
    const v = raw[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') return fail(field, `is a ${Array.isArray(v) ? 'list' : typeof v}, not a string`);
    return v;
  };
  const stringList = (field: string): string[] | undefined => {
    const v = raw[field];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return fail(field, `is a ${typeof v}, not a list of strings`);
    const bad = v.findIndex((x) => typeof x !== 'string');
    if (bad >= 0) fail(`${field}[${bad}]`, `is a ${typeof v[bad]}, not a string`);
    return [...(v as string[])];
  };

  const workingDir = optionalString('WorkingDir');
  if (workingDir !== undefined && workingDir !== '') {
    const why = pathProblem(workingDir, true);
    if (why !== undefined) fail(`WorkingDir ${quoteBounded(workingDir)}`, why);
  }
  if (workingDir !== undefined) out.WorkingDir = workingDir;

  let argvBytes = 0;
  for (const field of ['Entrypoint', 'Cmd'] as const) {
    const list = stringList(field);
    if (list === undefined) continue;
    list.forEach((arg, i) => {
      if (arg.includes('\0')) fail(`${field}[${i}] ${quoteBounded(arg)}`, 'contains a NUL byte');
      if (execLen(arg) > MAX_ARG_STRLEN) fail(`${field}[${i}]`, `is too long (${execLen(arg) - 1} bytes; at most ${MAX_ARG_STRLEN - 1})`);
      argvBytes += execLen(arg);
    });
    if (argvBytes > ARGV_TOTAL_MAX) fail('Entrypoint and Cmd', `total ${argvBytes} bytes, over ${ARGV_TOTAL_MAX}`);
    out[field] = list;
  }

  const env = stringList('Env');
  if (env !== undefined) {
    let envBytes = 0;
    env.forEach((entry, i) => {
      const eq = entry.indexOf('=');
      const key = eq < 0 ? entry : entry.slice(0, eq);
      // Only the key is ever shown: a value may be a credential.
      const name = `Env[${i}] ${quoteBounded(key)}`;
      if (eq < 0) fail(name, 'has no "=" (image config Env entries are KEY=value)');
      if (key === '') fail(`Env[${i}]`, 'has an empty name');
      if (key.includes('\0')) fail(name, 'has a NUL byte in its name');
      if (/[\n\r]/.test(key)) fail(name, 'has a newline in its name');
      if (entry.includes('\0', eq)) fail(name, 'has a NUL byte in its value');
      if (execLen(entry) > MAX_ARG_STRLEN) fail(name, `is too long (${execLen(entry) - 1} bytes; at most ${MAX_ARG_STRLEN - 1})`);
      envBytes += execLen(entry);
    });
    if (envBytes > ENV_TOTAL_MAX) fail('Env', `totals ${envBytes} bytes, over ${ENV_TOTAL_MAX}`);
    out.Env = env;
  }

  const user = optionalString('User');
  if (user !== undefined) {
    if (user.includes('\0')) fail(`User ${quoteBounded(user)}`, 'contains a NUL byte');
    if (/[\n\r]/.test(user)) fail(`User ${quoteBounded(user)}`, 'contains a newline');
    if (user.split(':').some((part) => part.length >= LOGIN_NAME_MAX)) fail(`User ${quoteBounded(user)}`, `names a user or group longer than ${LOGIN_NAME_MAX - 1} characters`);
    out.User = user;
  }

  const volumes = raw.Volumes;
  if (volumes !== undefined && volumes !== null) {
    if (!isRecord(volumes)) fail('Volumes', 'is not a JSON object');
    const names = Object.keys(volumes);
    if (names.length > VOLUMES_MAX) fail('Volumes', `declares ${names.length} volumes, over ${VOLUMES_MAX}`);
    for (const v of names) {
      const why = pathProblem(v, true);
      if (why !== undefined) fail(`Volumes: image volume ${quoteBounded(v)}`, why);
    }
    out.Volumes = Object.fromEntries(names.map((v) => [v, {}]));
  }

  const stopSignal = optionalString('StopSignal');
  if (stopSignal !== undefined && stopSignal !== '') {
    const field = `StopSignal ${quoteBounded(stopSignal)}`;
    if (stopSignal.length > SIGNAL_NAME_MAX) fail(field, 'is not a signal name');
    let name: string;
    try {
      name = normalizeSignalName(stopSignal);
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      return fail(field, 'is not a known signal number');
    }
    if (signalEnumOf(name) === Signal.SIGNAL_RUNTIME_DEFAULT) fail(field, 'is not a known signal');
  }
  if (stopSignal !== undefined) out.StopSignal = stopSignal;

  return out;
}
