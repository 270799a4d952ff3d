/**
 * Command-line flags shared by `daemon`, `config` and `check`, mapped onto config keys so
 * a flag is just the last config layer.
 */
import { parseArgs } from 'node:util';
import type { ConfigKey } from '../config/schema.ts';

/** Flag name → config key. */
const CONFIG_FLAGS = {
  socket: 'socket',
  root: 'root',
  'run-root': 'run_root',
  'log-level': 'log_level',
  'registries-conf': 'image.registries_conf',
  'cni-conf-dir': 'cni.conf_dir',
  'cni-plugin-dir': 'cni.plugin_dirs',
  'metrics-port': 'metrics.port',
} as const satisfies Record<string, ConfigKey>;

export const FLAG_HELP = `Options (each also settable in the config file):
  --config FILE            main config file (default /etc/critter/critter.yaml; drop-ins in <dir>/critter.d/*.yaml)
  --socket PATH            CRI socket (default /run/critter/critter.sock)
  --root DIR               persistent state and storage (default /var/lib/critter)
  --run-root DIR           runtime state (default /run/critter)
  --log-level LEVEL        trace, debug, info, warn, error
  --registries-conf FILE   containers-registries.conf (default /etc/containers/registries.conf)
  --cni-conf-dir DIR       CNI network configs (default /etc/cni/net.d)
  --cni-plugin-dir DIR     CNI plugin directory; repeat for several (default /opt/cni/bin, /usr/lib/cni)
  --metrics-port PORT      Prometheus /metrics port on 127.0.0.1 (default 9090; 0 = random)
  -h, --help               this help
`;

export interface ParsedFlags {
  configFile: string | undefined;
  overrides: Partial<Record<ConfigKey, unknown>>;
  help: boolean;
  positionals: string[];
  extra: Record<string, string | boolean | undefined>;
}

/** Parses argv after the command name; `extra` declares command-specific options. */
export function parseFlags(argv: string[], extra: Record<string, { type: 'string' | 'boolean' }> = {}): ParsedFlags {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      socket: { type: 'string' },
      root: { type: 'string' },
      'run-root': { type: 'string' },
      'log-level': { type: 'string' },
      'registries-conf': { type: 'string' },
      'cni-conf-dir': { type: 'string' },
      'cni-plugin-dir': { type: 'string', multiple: true },
      'metrics-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...extra,
    },
  });
  const overrides: Partial<Record<ConfigKey, unknown>> = {};
  for (const [flag, key] of Object.entries(CONFIG_FLAGS)) {
    const v = (values as Record<string, unknown>)[flag];
    if (v !== undefined) overrides[key] = v;
  }
  const registriesConf = overrides['image.registries_conf'];
  if (typeof registriesConf === 'string') {
    // A registries.conf given on the command line brings its own drop-in dir beside it.
    overrides['image.registries_conf_dir'] = `${registriesConf}.d`;
  }
  const extraValues: Record<string, string | boolean | undefined> = {};
  for (const k of Object.keys(extra)) extraValues[k] = (values as Record<string, string | boolean | undefined>)[k];
  return { configFile: values.config, overrides, help: values.help === true, positionals, extra: extraValues };
}
