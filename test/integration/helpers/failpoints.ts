/**
 * Failpoint wrappers for the binaries the daemon runs (issue 18 item 8): a shell script put
 * in place of runc or a CNI plugin that, at one chosen step (a runc subcommand such as
 * `create`, `start`, `delete`; a CNI command `ADD`, `DEL`), fails, dies by SIGKILL, hangs
 * until its parent is gone, or blocks until the test releases it, and otherwise execs the
 * real binary. So rollback paths run against the real daemon, and a test can know that the
 * daemon is inside a step (the wrapper signals it reached it) instead of sleeping into it.
 *
 * At its step the wrapper appends one line to `hits` (the CNI container id, or the runc
 * container id: the last argument) and creates `reached`; a blocked one waits for `release`.
 */
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type FailpointAction =
  /** Exit 1 with `message` (on stderr for runc; as a CNI error object on stdout for a plugin). */
  | 'fail'
  /** SIGKILL itself at the step, as a binary killed by the OOM killer would end. */
  | 'die'
  /** Wait until its parent is gone, then exit 1: a step that never finishes. */
  | 'hang'
  /** Wait for release(), then run the real binary: a step as slow as the test wants. */
  | 'block';

export interface FailpointOptions {
  /** Directory the wrapper is written into (put it first on the plugin path, or name it as the runtime). */
  dir: string;
  /** The wrapper's file name: `runc`, or the CNI plugin type (`bridge`, `portmap`). */
  name: string;
  /** The binary it stands for. */
  real: string;
  kind: 'runc' | 'cni';
  /** runc subcommand or CNI_COMMAND at which the failpoint triggers. */
  step: string;
  action: FailpointAction;
  message?: string;
}

export interface Failpoint {
  path: string;
  /** Resolves once the wrapper reached its step (polls its marker, with a deadline). */
  reached(timeoutMs?: number): Promise<void>;
  /** Lets a blocked wrapper go on into the real binary. */
  release(): Promise<void>;
  /** The ids the step ran for, in order (CNI_CONTAINERID, or runc's container id). */
  hits(): Promise<string[]>;
}

/** Shell single-quoting: the message goes into the script as data, never as code. */
function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function writeFailpoint(o: FailpointOptions): Promise<Failpoint> {
  await mkdir(o.dir, { recursive: true });
  const base = join(o.dir, `${o.name}.${o.step}`);
  const reachedFile = `${base}.reached`;
  const releaseFile = `${base}.release`;
  const hitsFile = `${base}.hits`;
  const message = o.message ?? `failpoint: ${o.name} ${o.step} ${o.action}`;
  const failLine = o.kind === 'cni'
    ? `printf '%s\\n' ${quote(JSON.stringify({ cniVersion: '1.0.0', code: 999, msg: message, details: 'failpoint' }))}; exit 1`
    : `printf '%s\\n' ${quote(message)} >&2; exit 1`;
  const actionLines: Record<FailpointAction, string[]> = {
    fail: [failLine],
    die: ['kill -KILL $$'],
    hang: ['while kill -0 $PPID 2>/dev/null; do sleep 0.1; done', 'exit 1'],
    block: [`while [ ! -e ${quote(releaseFile)} ]; do kill -0 $PPID 2>/dev/null || exit 1; sleep 0.05; done`],
  };
  // runc takes global flags before its subcommand; these ones take a value.
  const findStep = o.kind === 'cni'
    ? ['step="$CNI_COMMAND"', 'id="$CNI_CONTAINERID"']
    : [
      'step=""; skip=0; for a in "$@"; do',
      '  if [ $skip = 1 ]; then skip=0; continue; fi',
      '  case "$a" in --root|--log|--log-format|--criu) skip=1 ;; -*) ;; *) step="$a"; break ;; esac',
      'done',
      'for id in "$@"; do :; done',
    ];
  // A CNI plugin reads its config on stdin: keep it for the real plugin.
  const stdin = o.kind === 'cni' ? [`conf=$(cat)`] : [];
  const exec = o.kind === 'cni' ? `printf '%s' "$conf" | exec ${quote(o.real)} "$@"` : `exec ${quote(o.real)} "$@"`;
  const script = [
    '#!/bin/sh',
    ...stdin,
    ...findStep,
    `if [ "$step" = ${quote(o.step)} ]; then`,
    `  printf '%s\\n' "$id" >> ${quote(hitsFile)}`,
    `  : > ${quote(reachedFile)}`,
    ...actionLines[o.action].map((l) => `  ${l}`),
    'fi',
    exec,
    '',
  ].join('\n');
  const path = join(o.dir, o.name);
  await writeFile(path, script, { mode: 0o755 });
  return {
    path,
    async reached(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await access(reachedFile).then(() => true, () => false))) {
        if (Date.now() > deadline) throw new Error(`failpoint ${o.name} ${o.step} not reached within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async release() {
      await writeFile(releaseFile, '');
    },
    async hits() {
      return (await readFile(hitsFile, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    },
  };
}
