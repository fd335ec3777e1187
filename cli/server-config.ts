/**
 * Settings of the server commands (`cairn meta`, `cairn chunk`, `cairn gateway`) from four
 * sources, one precedence for every setting of every role (docs/configuration.md):
 *
 *   command-line flag  >  environment variable  >  config file  >  built-in default
 *
 * - flag: `--tick-ms 50`;
 * - environment: `CAIRN_<ROLE>_<FLAG>` (`CAIRN_META_TICK_MS`, flag name upper-cased, `-` → `_`),
 *   and for the few settings every role means the same way (`--meta`, `--secret-file`,
 *   `--token-file`) also the shared `CAIRN_META`, `CAIRN_SECRET_FILE`, `CAIRN_TOKEN_FILE` (the
 *   role's own name wins). An empty variable counts as unset;
 * - config file: `--config FILE` (or `CAIRN_<ROLE>_CONFIG`), a JSON object whose keys are flag
 *   names without the dashes (`{"listen": "0.0.0.0:7101", "tick-ms": 50}`); numbers may be JSON
 *   numbers or strings; an unknown key is an error (a typo must not be ignored silently);
 *   relative paths in it are relative to the current directory, as on the command line;
 * - default: src/config/defaults.ts, as `--help` shows it.
 *
 * Every value, whatever its source, goes through the same parser. A bad or missing value is a
 * usage error: one line on stderr naming the setting and the source it came from (`--listen`,
 * `CAIRN_CHUNK_LISTEN`, `config file /etc/cairn/chunk.json: listen`) and exit status 2.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseHostPort } from '../src/proto/addr.js';
import { CairnError } from '../src/util/errors.js';
import { errorLine } from './cli-errors.js';

/** The exit status of a server command given a bad or missing setting. */
export const EXIT_USAGE = 2;

export type ServerRole = 'meta' | 'chunk' | 'gateway';

/** One setting: its flag, how a raw text value becomes T, and what it is when no source sets it. */
export interface Setting<T> {
  /** The argument's name in help, e.g. `<host:port>`. */
  arg: string;
  help: string;
  /** Turns a raw value into T; throws Error with a message saying what is expected. */
  parse: (raw: string) => T;
  /** Shown by --help and used when no source sets the value. */
  default?: T;
  /** With no default: some source must set it. */
  required: boolean;
  /** Also read from the role-less `CAIRN_<FLAG>` (settings meaning the same for every role). */
  shared?: boolean;
  /** What help says the value is when unset, for a setting without a plain default. */
  unsetMeans?: string;
}

export type Settings = Record<string, Setting<unknown>>;

export type SettingValues<S extends Settings> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** A setting some source must give (no default). */
export function required<T>(arg: string, help: string, parse: (raw: string) => T, o: { shared?: boolean } = {}): Setting<T> {
  return { arg, help, parse, required: true, ...o };
}

/** A setting with a default. */
export function withDefault<T>(arg: string, help: string, parse: (raw: string) => T, dflt: T, o: { shared?: boolean } = {}): Setting<T> {
  return { arg, help, parse, default: dflt, required: false, ...o };
}

/** A setting that may stay unset (undefined). */
export function optional<T>(arg: string, help: string, parse: (raw: string) => T, o: { shared?: boolean; unsetMeans?: string } = {}): Setting<T | undefined> {
  return { arg, help, parse, required: false, ...o };
}

// ---- parsers -------------------------------------------------------------------------------

/** A whole number in [min, max]. */
export function int(min: number, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new Error(max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}: ${raw}` : `must be an integer from ${min} to ${max}: ${raw}`);
    }
    return n;
  };
}

/** Non-empty text. */
export function text(raw: string): string {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw;
}

/** host:port; port 0 (any free port) only where `allowZero`. */
export function hostPort(allowZero = false): (raw: string) => string {
  return (raw) => {
    try {
      parseHostPort(raw, allowZero);
    } catch (e) {
      throw new Error((e as Error).message);
    }
    return raw;
  };
}

// ---- names -----------------------------------------------------------------------------------

/** `tickMs` → `--tick-ms`. */
export function flagOf(key: string): string {
  return `--${fileKeyOf(key)}`;
}

/** `tickMs` → `tick-ms`, the key in a config file. */
export function fileKeyOf(key: string): string {
  return key.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);
}

/** The environment variables of a setting, the one that wins first. */
export function envNamesOf(role: ServerRole, key: string, setting: Pick<Setting<unknown>, 'shared'>): string[] {
  const flag = fileKeyOf(key).toUpperCase().replace(/-/g, '_');
  return [`CAIRN_${role.toUpperCase()}_${flag}`, ...(setting.shared ? [`CAIRN_${flag}`] : [])];
}

/** The variable naming the config file of a role. */
export function configEnvOf(role: ServerRole): string {
  return `CAIRN_${role.toUpperCase()}_CONFIG`;
}

// ---- resolution ------------------------------------------------------------------------------

/** A bad or missing setting; its message already names the source. */
export class ServerConfigError extends CairnError {
  constructor(message: string) {
    super('InvalidArgument', message);
  }
}

export interface ResolveInput {
  /** Values given as flags (commander's opts(): undefined when absent). */
  flags: Record<string, string | undefined>;
  env: NodeJS.ProcessEnv;
  /** Reads the config file's text; throws when it cannot. @default readFileSync utf8 */
  readFile?: (path: string) => string;
}

/**
 * Every setting's value from the first source that sets it (flag > env > file > default).
 * Throws ServerConfigError naming the setting and its source.
 */
export function resolveServerConfig<S extends Settings>(role: ServerRole, settings: S, input: ResolveInput): SettingValues<S> {
  const readFile = input.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const env = (name: string): string | undefined => {
    const v = input.env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const configPath = input.flags.config ?? env(configEnvOf(role));
  const file = configPath === undefined ? null : readConfigFile(configPath, input.flags.config !== undefined ? '--config' : configEnvOf(role), settings, readFile);
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(settings)) {
    let raw: string | undefined;
    let source = '';
    if (input.flags[key] !== undefined) {
      raw = input.flags[key];
      source = flagOf(key);
    } else {
      for (const name of envNamesOf(role, key, s)) {
        raw = env(name);
        if (raw !== undefined) {
          source = name;
          break;
        }
      }
      if (raw === undefined && file?.values[fileKeyOf(key)] !== undefined) {
        raw = file.values[fileKeyOf(key)];
        source = `config file ${file.path}: ${fileKeyOf(key)}`;
      }
    }
    if (raw === undefined) {
      if (s.required) throw new ServerConfigError(`missing ${flagOf(key)} (or ${envNamesOf(role, key, s).join(' or ')}, or "${fileKeyOf(key)}" in the --config file)`);
      out[key] = s.default;
      continue;
    }
    try {
      out[key] = s.parse(raw);
    } catch (e) {
      throw new ServerConfigError(`${source}: ${(e as Error).message}`);
    }
  }
  return out as SettingValues<S>;
}

function readConfigFile(path: string, source: string, settings: Settings, readFile: (path: string) => string): { path: string; values: Record<string, string> } {
  let body: string;
  try {
    body = readFile(path);
  } catch (e) {
    throw new ServerConfigError(`${source}: cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    throw new ServerConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ServerConfigError(`config file ${path} is not a JSON object`);
  const known = new Set(Object.keys(settings).map(fileKeyOf));
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!known.has(k)) throw new ServerConfigError(`config file ${path}: unknown key ${JSON.stringify(k)} (keys are the flag names without "--")`);
    if (typeof v === 'number' && Number.isFinite(v)) values[k] = String(v);
    else if (typeof v === 'string') values[k] = v;
    else throw new ServerConfigError(`config file ${path}: ${k}: must be a string or a number`);
  }
  return { path, values };
}

// ---- commander ---------------------------------------------------------------------------------

/**
 * Declare `--config` and every setting as flags of `cmd`, without commander defaults or
 * parsers: a flag's value stays its raw text, undefined when absent, so resolveServerConfig
 * can tell a flag from the other sources. Help shows each default and variable.
 */
export function addServerOptions(cmd: Command, role: ServerRole, settings: Settings): Command {
  cmd.option('--config <file>', `JSON file of settings, keys = flag names without "--" (env ${configEnvOf(role)})`);
  for (const [key, s] of Object.entries(settings)) {
    const envs = envNamesOf(role, key, s).join(' or ');
    const when = s.required ? 'required' : s.default === undefined ? `default: ${s.unsetMeans ?? 'none'}` : `default: ${JSON.stringify(s.default)}`;
    cmd.option(`${flagOf(key)} ${s.arg}`, `${s.help} (${when}; env ${envs})`);
  }
  cmd.addHelpText('after', '\nEvery setting comes from its flag, else its environment variable, else the --config file, else its default (docs/configuration.md).');
  return cmd;
}

/** The settings of a parsed command, or exit 2 with one line naming the setting and its source. */
export function serverConfigOrExit<S extends Settings>(role: ServerRole, settings: S, flags: Record<string, string | undefined>): SettingValues<S> {
  try {
    return resolveServerConfig(role, settings, { flags, env: process.env });
  } catch (e) {
    usageExit(e);
  }
}

/** A usage error of a server command: its one line, exit 2. */
export function usageExit(err: unknown): never {
  process.stderr.write(errorLine(err) + '\n');
  process.exit(EXIT_USAGE);
}
