/**
 * The server settings' precedence (flag > environment > config file > default) and their
 * errors, each naming the setting and the source it came from (cli/server-config.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addServerOptions, configEnvOf, envNamesOf, fileKeyOf, flagOf, hostPort, int, optional, required, resolveServerConfig, ServerConfigError, text, withDefault, type ResolveInput } from '../../../cli/server-config.js';
import { CHUNK_SETTINGS, GATEWAY_SETTINGS, META_SETTINGS, SERVER_SETTINGS } from '../../../cli/server-settings.js';

const S = {
  id: required('<id>', 'id', text),
  listen: required('<host:port>', 'listen', hostPort()),
  tickMs: withDefault('<ms>', 'tick', int(1), 100),
  metricsListen: optional('<host:port>', 'metrics', hostPort(true)),
  tokenFile: optional('<path>', 'token', text, { shared: true }),
};

const FILE = '/etc/cairn/meta.json';

function resolve(flags: Record<string, string | undefined>, env: Record<string, string> = {}, file?: object): ReturnType<typeof resolveServerConfig<typeof S>> {
  const input: ResolveInput = {
    flags,
    env,
    readFile: (p) => {
      if (p !== FILE || file === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return JSON.stringify(file);
    },
  };
  return resolveServerConfig('meta', S, input);
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ServerConfigError);
    return (e as Error).message;
  }
  throw new Error('no error');
}

const base = { id: 'm1', listen: '127.0.0.1:7001' };

describe('precedence: flag > environment > config file > default', () => {
  it('the default when no source sets a value; unset optional values stay undefined', () => {
    expect(resolve(base)).toEqual({ ...base, tickMs: 100, metricsListen: undefined, tokenFile: undefined });
  });

  it('the config file over the default', () => {
    expect(resolve({ ...base, config: FILE }, {}, { 'tick-ms': 7, 'metrics-listen': '0.0.0.0:9' })).toMatchObject({ tickMs: 7, metricsListen: '0.0.0.0:9' });
    expect(resolve({ ...base, config: FILE }, {}, { 'tick-ms': '8' }).tickMs).toBe(8);
  });

  it('the environment over the config file', () => {
    expect(resolve({ ...base, config: FILE }, { CAIRN_META_TICK_MS: '5' }, { 'tick-ms': 7 }).tickMs).toBe(5);
  });

  it('the flag over the environment', () => {
    expect(resolve({ ...base, tickMs: '3', config: FILE }, { CAIRN_META_TICK_MS: '5' }, { 'tick-ms': 7 }).tickMs).toBe(3);
  });

  it('every setting, required ones included, from the environment and the config file alone', () => {
    expect(resolve({}, { CAIRN_META_CONFIG: FILE, CAIRN_META_LISTEN: '0.0.0.0:7001' }, { id: 'm2', listen: 'x:1' })).toMatchObject({ id: 'm2', listen: '0.0.0.0:7001' });
  });

  it('--config over its variable', () => {
    expect(errorOf(() => resolve({ ...base, config: '/elsewhere.json' }, { CAIRN_META_CONFIG: FILE }, {}))).toBe('--config: cannot read config file /elsewhere.json: ENOENT');
  });

  it('a shared variable applies, the role variable wins over it, and an empty variable is unset', () => {
    expect(resolve(base, { CAIRN_TOKEN_FILE: '/t' }).tokenFile).toBe('/t');
    expect(resolve(base, { CAIRN_TOKEN_FILE: '/t', CAIRN_META_TOKEN_FILE: '/m' }).tokenFile).toBe('/m');
    expect(resolve(base, { CAIRN_META_TICK_MS: '' }).tickMs).toBe(100);
    // Only settings marked shared have a role-less variable.
    expect(resolve(base, { CAIRN_TICK_MS: '9' }).tickMs).toBe(100);
  });
});

describe('errors name the setting and its source', () => {
  it('a bad flag', () => {
    expect(errorOf(() => resolve({ ...base, tickMs: '0' }))).toBe('--tick-ms: must be an integer >= 1: 0');
    expect(errorOf(() => resolve({ ...base, listen: 'nowhere' }))).toBe('--listen: address must be host:port: "nowhere"');
  });

  it('a bad variable', () => {
    expect(errorOf(() => resolve(base, { CAIRN_META_TICK_MS: 'fast' }))).toBe('CAIRN_META_TICK_MS: must be an integer >= 1: fast');
    expect(errorOf(() => resolve(base, { CAIRN_META_METRICS_LISTEN: ':9' }))).toBe('CAIRN_META_METRICS_LISTEN: address must be host:port: ":9"');
  });

  it('a bad value in the config file', () => {
    expect(errorOf(() => resolve({ ...base, config: FILE }, {}, { 'tick-ms': -1 }))).toBe(`config file ${FILE}: tick-ms: must be an integer >= 1: -1`);
    expect(errorOf(() => resolve({ ...base, config: FILE }, {}, { 'tick-ms': true }))).toBe(`config file ${FILE}: tick-ms: must be a string or a number`);
  });

  it('an unknown key, a file that is not a JSON object, a file that cannot be read', () => {
    expect(errorOf(() => resolve({ ...base, config: FILE }, {}, { tickMs: 5 }))).toBe(`config file ${FILE}: unknown key "tickMs" (keys are the flag names without "--")`);
    expect(errorOf(() => resolve({ ...base, config: FILE }, {}, [1]))).toBe(`config file ${FILE} is not a JSON object`);
    expect(errorOf(() => resolveServerConfig('meta', S, { flags: { ...base, config: FILE }, env: {}, readFile: () => '{"id": ' }))).toMatch(new RegExp(`^config file ${FILE} is not valid JSON: `));
    expect(errorOf(() => resolve(base, { CAIRN_META_CONFIG: '/missing.json' }))).toBe('CAIRN_META_CONFIG: cannot read config file /missing.json: ENOENT');
  });

  it('a required setting no source gives', () => {
    expect(errorOf(() => resolve({ id: 'm1' }))).toBe('missing --listen (or CAIRN_META_LISTEN, or "listen" in the --config file)');
  });
});

describe('the server settings tables', () => {
  it('names: flag, config key and variables derive from the key', () => {
    expect(flagOf('perClientInflightMax')).toBe('--per-client-inflight-max');
    expect(fileKeyOf('s3Listen')).toBe('s3-listen');
    expect(envNamesOf('chunk', 'meta', CHUNK_SETTINGS.meta)).toEqual(['CAIRN_CHUNK_META', 'CAIRN_META']);
    expect(envNamesOf('gateway', 's3Region', GATEWAY_SETTINGS.s3Region)).toEqual(['CAIRN_GATEWAY_S3_REGION']);
  });

  it('every default passes its own parser, and --help lists every flag with its default and variables', () => {
    for (const [role, settings] of Object.entries(SERVER_SETTINGS)) {
      const cmd = addServerOptions(new Command(role), role as 'meta', settings);
      const help = cmd.helpInformation().replace(/\s+/g, ' ');
      expect(help).toContain('--config <file>');
      for (const [key, s] of Object.entries(settings)) {
        if (s.default !== undefined) expect(s.parse(String(s.default)), `${role} ${key}`).toEqual(s.default);
        expect(help, `${role} ${key}`).toContain(`${flagOf(key)} ${s.arg}`);
        expect(help, `${role} ${key}`).toContain(`env ${envNamesOf(role as 'meta', key, s).join(' or ')})`);
        if (s.default !== undefined) expect(help, `${role} ${key}`).toContain(`default: ${JSON.stringify(s.default)};`);
        if (s.required) expect(help, `${role} ${key}`).toContain('(required; env');
      }
    }
  });

  it('docs/configuration.md lists every flag with its variables', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'configuration.md'), 'utf8');
    for (const [role, settings] of Object.entries(SERVER_SETTINGS)) {
      const section = doc.slice(doc.indexOf(`### \`cairn ${role}\``));
      expect(section, role).toContain(`| \`--config <file>\` | \`${configEnvOf(role as 'meta')}\` |`);
      for (const [key, s] of Object.entries(settings)) {
        expect(section, `${role} ${key}`).toContain(`| \`${flagOf(key)} ${s.arg}\` | ${envNamesOf(role as 'meta', key, s).map((n) => `\`${n}\``).join(', ')} |`);
      }
    }
  });

  it('--inline-bytes-max keeps its upper bound', () => {
    expect(() => META_SETTINGS.inlineBytesMax.parse('999999999')).toThrow(/must be an integer from 0 to/);
  });
});
