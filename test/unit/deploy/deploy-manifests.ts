/**
 * Reads the deployment files under deploy/ into the command lines they run, for the tests that
 * check them (test/unit/deploy/*.test.ts, test/integration/deploy-files.test.ts). The command
 * lines are derived from the files, never restated here: a flag renamed in a file is a flag
 * renamed in the test. YAML is read with js-yaml, present in node_modules (through eslint) but
 * not a dependency of the project, so it is loaded untyped through createRequire.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../../src/server/local-process.js';
import { envNamesOf, flagOf, resolveServerConfig, type ServerRole } from '../../../cli/server-config.js';
import { SERVER_SETTINGS } from '../../../cli/server-settings.js';

export const DEPLOY_DIR = join(packageRoot(), 'deploy');

const yaml = createRequire(import.meta.url)('js-yaml') as {
  load(text: string): unknown;
  loadAll(text: string): unknown[];
};

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML; the tests assert their shape */
export type Yaml = any;

export function deployText(rel: string): string {
  return readFileSync(join(DEPLOY_DIR, rel), 'utf8');
}

/** Every YAML document of a file (a kustomize resource may hold several). */
export function yamlDocs(rel: string): Yaml[] {
  return yaml.loadAll(deployText(rel)).filter((d) => d !== null && d !== undefined);
}

/** One server command line: the `cairn` subcommand and its arguments, and where it came from. */
export interface CommandLine {
  /** e.g. `compose:m1`, `k8s:StatefulSet/cairn-meta`, `systemd:cairn-meta@.service` */
  source: string;
  /** `meta`, `chunk` or `gateway` */
  role: string;
  /** The arguments after the role, as written (variables unexpanded). */
  args: string[];
}

/** `--flag` names used by a command line (values excluded). */
export function flagsOf(args: string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!);
}

/** The value after `flag` (undefined when the flag is absent). */
export function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

// ---- Dockerfile -------------------------------------------------------------------------

export interface DockerInstruction {
  op: string;
  rest: string;
}

/** Instructions of deploy/Dockerfile: comments dropped, `\` continuations joined. */
export function dockerfile(): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let pending = '';
  for (const raw of deployText('Dockerfile').split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    const m = /^([A-Z]+)\s+(.*)$/.exec(whole);
    if (!m) throw new Error(`Dockerfile: not an instruction: ${whole}`);
    out.push({ op: m[1]!, rest: m[2]! });
  }
  return out;
}

/** The JSON (exec) form of an instruction such as ENTRYPOINT or CMD. */
export function execForm(ins: DockerInstruction): string[] {
  const v = JSON.parse(ins.rest.replace(/^CMD\s+/, '')) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`${ins.op} is not in exec form: ${ins.rest}`);
  return v;
}

// ---- docker-compose.yml -----------------------------------------------------------------

export function compose(): Yaml {
  return yaml.load(deployText('docker-compose.yml'));
}

export function composeCommands(): CommandLine[] {
  const c = compose();
  return Object.entries(c.services as Record<string, Yaml>).map(([name, svc]) => {
    const [role, ...args] = svc.command as string[];
    return { source: `compose:${name}`, role: role!, args };
  });
}

// ---- Kubernetes (kustomize base) ----------------------------------------------------------

export function kustomization(): Yaml {
  return yaml.load(deployText('k8s/kustomization.yaml'));
}

/** Every object of every resource the kustomization lists. */
export function k8sObjects(): Yaml[] {
  return (kustomization().resources as string[]).flatMap((r) => yamlDocs(join('k8s', r)));
}

export function k8sWorkloads(): Yaml[] {
  return k8sObjects().filter((o) => o.kind === 'StatefulSet' || o.kind === 'Deployment');
}

export function k8sCommands(): CommandLine[] {
  return k8sWorkloads().flatMap((w) =>
    (w.spec.template.spec.containers as Yaml[]).map((c) => {
      const [role, ...args] = c.args as string[];
      return { source: `k8s:${w.kind}/${w.metadata.name}`, role: role!, args };
    }),
  );
}

/** Kubernetes `$(VAR)` expansion from a container's env (fieldRefs given sample values). */
export function expandK8s(args: string[], vars: Record<string, string>): string[] {
  return args.map((a) =>
    a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, v: string) => {
      if (!(v in vars)) throw new Error(`$(${v}) is not defined in the container's env`);
      return vars[v]!;
    }),
  );
}

/**
 * The env of a container as Kubernetes would set it for pod `podName`: plain values, and the
 * downward-API fields this repository uses (metadata.name, status.podIP, a metadata label).
 */
export function k8sEnv(workload: Yaml, container: Yaml, podName: string, podIp: string): Record<string, string> {
  const labels = workload.spec.template.metadata.labels as Record<string, string>;
  const out: Record<string, string> = {};
  for (const e of (container.env ?? []) as Yaml[]) {
    if (typeof e.value === 'string') out[e.name] = e.value;
    const path = e.valueFrom?.fieldRef?.fieldPath as string | undefined;
    if (path === undefined) continue;
    const label = /^metadata\.labels\['([^']+)'\]$/.exec(path);
    if (path === 'metadata.name') out[e.name] = podName;
    else if (path === 'status.podIP') out[e.name] = podIp;
    else if (label && labels[label[1]!] !== undefined) out[e.name] = labels[label[1]!]!;
    else throw new Error(`env ${e.name}: unsupported fieldRef ${path}`);
  }
  return out;
}

// ---- systemd units ------------------------------------------------------------------------

export const SYSTEMD_UNITS = ['cairn-meta@.service', 'cairn-chunk@.service', 'cairn-gateway.service'] as const;

/** A unit file: section → key → values (a key may repeat). */
export function systemdUnit(name: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | null = null;
  for (const raw of deployText(join('systemd', name)).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[([A-Za-z]+)\]$/.exec(line);
    if (head) {
      section = new Map();
      out.set(head[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (section === null || eq <= 0) throw new Error(`${name}: not a key=value line in a section: ${line}`);
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/** `KEY=value` lines of an env file (as systemd's EnvironmentFile reads them). */
export function envFile(rel: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of deployText(rel).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`${rel}: not KEY=value: ${line}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** The example env file documented for a unit's EnvironmentFile (meta-%i.env → meta.env.example). */
export function envExampleFor(unit: string): string {
  return `systemd/${unit.replace(/^cairn-/, '').replace(/@?\.service$/, '')}.env.example`;
}

export function systemdCommands(): CommandLine[] {
  return SYSTEMD_UNITS.map((u) => {
    const exec = systemdUnit(u).get('Service')?.get('ExecStart')?.[0];
    if (exec === undefined) throw new Error(`${u}: no ExecStart`);
    const words = exec.split(/\s+/);
    const at = words.indexOf('cairn');
    if (at < 0) throw new Error(`${u}: ExecStart does not run cairn: ${exec}`);
    return { source: `systemd:${u}`, role: words[at + 1]!, args: words.slice(at + 2) };
  });
}

/** systemd expansion: `%i` → instance, `${VAR}`/`$VAR` from the env file. */
export function expandSystemd(args: string[], instance: string, env: Record<string, string>): string[] {
  return args.map((a) =>
    a.replace(/%i/g, instance).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, b?: string, p?: string) => {
      const v = (b ?? p)!;
      if (!(v in env)) throw new Error(`\${${v}} is not set by the env file`);
      return env[v]!;
    }),
  );
}

// ---- the CLI's settings -------------------------------------------------------------------

/** Every environment variable `cairn <role>` reads (cli/server-settings.ts). */
export function serverEnvNames(role: string): Set<string> {
  const settings = SERVER_SETTINGS[role as ServerRole];
  if (settings === undefined) throw new Error(`cairn ${role} is no server command`);
  return new Set([`CAIRN_${role.toUpperCase()}_CONFIG`, ...Object.entries(settings).flatMap(([k, s]) => envNamesOf(role as ServerRole, k, s))]);
}

/**
 * The settings `cairn <role>` would run with, given a command line (variables expanded) and
 * the environment the deployment gives it; throws, naming the setting and its source, when
 * one is missing or bad — exactly as the CLI does before it opens any file.
 */
export function resolvedSettings(role: string, args: string[], env: Record<string, string>): Record<string, unknown> {
  const settings = SERVER_SETTINGS[role as ServerRole];
  if (settings === undefined) throw new Error(`cairn ${role} is no server command`);
  const flags = Object.fromEntries(Object.keys(settings).map((k) => [k, flagValue(args, flagOf(k))]));
  return resolveServerConfig(role as ServerRole, settings, { flags, env, readFile: () => { throw new Error('deployment files use no --config'); } });
}

/** The `CAIRN_*` variables of an environment (those the CLI may read). */
export function cairnVars(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('CAIRN_')));
}

/** Every server command line of every deployment file. */
export function allCommands(): CommandLine[] {
  return [...composeCommands(), ...k8sCommands(), ...systemdCommands()];
}
