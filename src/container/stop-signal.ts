/**
 * The stop signal (cri-api.md §4 item 18): the config's `stop_signal`, else the image's
 * `StopSignal`, else SIGTERM; ContainerStatus echoes the effective one as the CRI enum.
 */
import { Signal, type Signal__Output } from '../generated/cri/runtime/v1/Signal.ts';
import { InvalidArgumentError } from '../lib/errors.ts';

const BY_NUMBER: Record<number, string> = {
  1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE',
  9: 'SIGKILL', 10: 'SIGUSR1', 11: 'SIGSEGV', 12: 'SIGUSR2', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM',
  16: 'SIGSTKFLT', 17: 'SIGCHLD', 18: 'SIGCONT', 19: 'SIGSTOP', 20: 'SIGTSTP', 21: 'SIGTTIN', 22: 'SIGTTOU',
  23: 'SIGURG', 24: 'SIGXCPU', 25: 'SIGXFSZ', 26: 'SIGVTALRM', 27: 'SIGPROF', 28: 'SIGWINCH', 29: 'SIGIO',
  30: 'SIGPWR', 31: 'SIGSYS',
};

/** `SIGQUIT`, `QUIT`, `sigquit` or `3` → `SIGQUIT`; `SIGRTMIN+3` stays as written (upper case). */
export function normalizeSignalName(text: string): string {
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) {
    const name = BY_NUMBER[Number(t)];
    if (!name) throw new InvalidArgumentError(`stop signal ${JSON.stringify(text)} is not a known signal number`);
    return name;
  }
  return t.startsWith('SIG') ? t : `SIG${t}`;
}

/** The CRI enum value of a signal name; RUNTIME_DEFAULT when the enum has none. */
export function signalEnumOf(name: string): Signal__Output {
  const key = `SIGNAL_${name.replace('+', 'PLUS').replace('-', 'MINUS')}`;
  return (Signal as Record<string, Signal__Output>)[key] ?? Signal.SIGNAL_RUNTIME_DEFAULT;
}

/** The CRI enum value as a signal name; undefined for RUNTIME_DEFAULT. */
function signalNameOf(value: number): string | undefined {
  if (value === Signal.SIGNAL_RUNTIME_DEFAULT) return undefined;
  const key = Object.entries(Signal).find(([, v]) => v === value)?.[0];
  if (key === undefined) throw new InvalidArgumentError(`stop_signal ${value} is not a known signal`);
  return key.slice('SIGNAL_'.length).replace('PLUS', '+').replace('MINUS', '-');
}

export function effectiveStopSignal(configSignal: number, imageStopSignal: string | undefined): string {
  return signalNameOf(configSignal) ?? (imageStopSignal ? normalizeSignalName(imageStopSignal) : 'SIGTERM');
}
