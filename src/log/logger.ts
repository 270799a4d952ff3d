/**
 * The root logger: pino JSON on stderr. Credentials and env values are redacted by path
 * as a second line of defence; the first is never passing them to a logger at all.
 */
import { pino, type Logger, type Level } from 'pino';

/** Paths pino blanks out wherever they appear in a log object. */
const REDACT = [
  'auth', '*.auth', 'password', '*.password', 'identity_token', '*.identity_token', 'registry_token', '*.registry_token',
  'envs', '*.envs', 'env', '*.env', 'authorization', '*.authorization', 'headers.authorization',
];

/** Creates the daemon's root logger writing JSON lines to stderr. */
export function createRootLogger(level: Level): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
