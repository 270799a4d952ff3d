#!/usr/bin/env node
/**
 * `critter`: the CLI. `daemon` serves CRI; `config` prints or validates configuration;
 * `check` lists host prerequisites; `version` prints the version.
 */
import { readFileSync } from 'node:fs';
import { loadConfig, validateConfigFile } from '../config/load.ts';
import { renderConfig } from '../config/render.ts';
import { runHostChecks, formatChecks } from '../host/checks.ts';
import { describeError } from '../lib/errors.ts';
import { spawnSupport } from '../lib/spawn.ts';
import { takeNotifySocket } from '../lib/sd-notify.ts';
import { createRootLogger } from '../log/logger.ts';
import { Daemon } from '../daemon/daemon.ts';
import { parseFlags, FLAG_HELP } from './flags.ts';
import { PULL_HELP, runPull } from './pull.ts';
import { IMAGES_HELP, runImages } from './images.ts';
import { STATUS_HELP, runStatus } from './status.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const USAGE = `critter ${VERSION}: a Kubernetes CRI server (runtime.v1)

Usage: critter <command> [options]

Commands:
  daemon     serve CRI on the socket (runs until SIGTERM/SIGINT)
  config     print the effective configuration (--validate FILE checks a file)
  check      list host prerequisites; exits 1 when a required one is missing
  pull       pull an image into the running daemon, with progress (critter pull IMAGE)
  images     list the daemon's images; "images import FILE" loads an OCI or docker archive
  status     summary of the running daemon: conditions, pods, containers, images
  version    print the version

Run "critter <command> --help" for a command's options.
`;

const HELP: Record<string, string> = {
  daemon: `Usage: critter daemon [options]\n\nServes RuntimeService and ImageService on a unix socket. SIGTERM or SIGINT drains\nin-flight calls and exits 0 (a second signal exits at once); running containers are\nleft alone. SIGHUP reloads the reloadable keys.\n\n${FLAG_HELP}`,
  config: `Usage: critter config [options] [--validate FILE]\n\nPrints the effective configuration (defaults, file, drop-ins, flags) as commented YAML.\n  --validate FILE          check FILE alone; exits 1 naming the bad key and value\n\n${FLAG_HELP}`,
  check: `Usage: critter check [options]\n\nPrints a table of host prerequisites and the Debian package that provides each missing one.\nExits 1 when a required one is missing.\n\n${FLAG_HELP}`,
  version: 'Usage: critter version\n\nPrints the version.\n',
  pull: PULL_HELP,
  images: IMAGES_HELP,
  status: STATUS_HELP,
};

/** Options only some commands take, beside the shared flags. */
const COMMAND_OPTIONS: Record<string, Record<string, { type: 'string' | 'boolean' }>> = {
  config: { validate: { type: 'string' } },
  pull: { creds: { type: 'string' } },
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const help = HELP[command];
  if (!help) {
    process.stderr.write(`critter: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  const flags = parseFlags(rest, COMMAND_OPTIONS[command] ?? {});
  if (flags.help) {
    process.stdout.write(help);
    return 0;
  }
  switch (command) {
    case 'version':
      process.stdout.write(`critter ${VERSION}\nCRI API: v1\n`);
      return 0;
    case 'config': {
      if (typeof flags.extra.validate === 'string') {
        await validateConfigFile(flags.extra.validate);
        process.stdout.write(`${flags.extra.validate}: valid\n`);
        return 0;
      }
      const loaded = await loadConfig({ file: flags.configFile, overrides: flags.overrides });
      process.stdout.write(`# Effective critter configuration (sources: ${loaded.sources.join(', ') || 'defaults only'})\n`);
      process.stdout.write(renderConfig(loaded.config));
      return 0;
    }
    case 'check': {
      const loaded = await loadConfig({ file: flags.configFile, overrides: flags.overrides });
      const results = await runHostChecks(loaded.config);
      process.stdout.write(formatChecks(results));
      return results.some((r) => r.required && !r.ok) ? 1 : 0;
    }
    case 'daemon': {
      // Before anything starts: without posix_spawn's closefrom no runtime can be run.
      const unsupported = spawnSupport();
      if (unsupported !== null) {
        process.stderr.write(`critter: ${unsupported}\n`);
        return 1;
      }
      return runDaemon(flags.configFile, flags.overrides);
    }
    case 'pull': {
      if (flags.positionals.length !== 1) {
        process.stderr.write(`critter pull: want exactly one IMAGE\n\n${PULL_HELP}`);
        return 2;
      }
      const { config } = await loadConfig({ file: flags.configFile, overrides: flags.overrides });
      const creds = typeof flags.extra.creds === 'string' ? flags.extra.creds : undefined;
      return runPull({ image: flags.positionals[0]!, creds, runRoot: config.run_root, out: process.stdout });
    }
    case 'images': {
      const { config } = await loadConfig({ file: flags.configFile, overrides: flags.overrides });
      return runImages({ args: flags.positionals, runRoot: config.run_root, out: process.stdout });
    }
    case 'status': {
      const { config } = await loadConfig({ file: flags.configFile, overrides: flags.overrides });
      return runStatus({ runRoot: config.run_root, out: process.stdout });
    }
  }
  return 2;
}

async function runDaemon(configFile: string | undefined, overrides: ReturnType<typeof parseFlags>['overrides']): Promise<number> {
  const loaded = await loadConfig({ file: configFile, overrides });
  const log = createRootLogger(loaded.config.log_level);
  const daemon = new Daemon({ loaded, log, version: VERSION, notifySocket: takeNotifySocket() });
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal: sig }, 'Second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal: sig }, 'Signal received: shutting down');
    daemon.stop().then(() => process.exit(0), (err: unknown) => {
      log.error({ err: describeError(err) }, 'Shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => {
    loadConfig({ file: configFile, overrides })
      .then(async (next) => {
        log.level = next.config.log_level;
        await daemon.reload(next);
        log.info({ logLevel: next.config.log_level }, 'Configuration reloaded (reloadable keys applied)');
      })
      .catch((err: unknown) => log.error({ err: describeError(err) }, 'Reload refused; keeping the running configuration'));
  });
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err: describeError(err) }, 'critter cannot start');
    process.stderr.write(`critter: ${describeError(err)}\n`);
    await daemon.stop().catch(() => undefined);
    return 1;
  }
  // Serve until a signal handler exits the process.
  return new Promise<number>(() => undefined);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`critter: ${describeError(err)}\n`);
    process.exit(1);
  },
);
