/**
 * The deployment files against the BUILT CLI (`npm run build` first). Their command lines are
 * derived from the files (test/unit/deploy/deploy-manifests.ts):
 *   - every flag they pass is one `cairn <role> --help` lists;
 *   - every command line, its variables expanded as Compose, Kubernetes or systemd would, is
 *     accepted by the CLI: it gets as far as reading the secret files (absent here) before
 *     stopping, so every required flag is there and every address parses;
 *   - the compose and Kubernetes topologies form working clusters when their commands run as
 *     local processes: each service or pod becomes its own loopback address (127.a.b.x, so the
 *     ports stay those of the file), secrets and volumes become files and directories in a
 *     temporary folder; a
 *     file is put and read back through the gateway, the container health check passes for
 *     every role, and every server stops cleanly on SIGTERM.
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairnArgv, LocalProcess } from '../../src/server/local-process.js';
import { sleep } from '../../src/env/system.js';
import { assertBuilt, cliEnv, runCli } from './cli-harness.js';
import {
  cairnVars,
  compose,
  composeCommands,
  DEPLOY_DIR,
  envExampleFor,
  envFile,
  expandK8s,
  expandSystemd,
  flagsOf,
  flagValue,
  k8sEnv,
  k8sObjects,
  k8sWorkloads,
  systemdCommands,
  type CommandLine,
  type Yaml,
} from '../unit/deploy/deploy-manifests.js';

const CLUSTER_DEADLINE_MS = 45_000;
const STOP_GRACE_MS = 10_000;

/** `--flag` names listed by `cairn <role> --help`. */
async function helpFlags(role: string): Promise<Set<string>> {
  const r = await runCli([role, '--help']);
  expect(r.code, `cairn ${role} --help`).toBe(0);
  const text = r.stdout.toString('utf8');
  return new Set([...text.matchAll(/^\s+(?:-[A-Za-z], )?(--[a-z0-9-]+)/gm)].map((m) => m[1]!));
}

/** A command line with the CAIRN_ variables its runner gives it (read by the CLI itself). */
type CommandWithEnv = CommandLine & { env: Record<string, string> };

/** The command lines of every file with their variables expanded as their runner would. */
function expandedCommands(): CommandWithEnv[] {
  const services = compose().services as Record<string, Yaml>;
  const out: CommandWithEnv[] = composeCommands().map((c) => ({ ...c, env: cairnVars((services[c.source.slice('compose:'.length)].environment ?? {}) as Record<string, string>) }));
  for (const w of k8sWorkloads() as Yaml[]) {
    for (const c of w.spec.template.spec.containers as Yaml[]) {
      const env = k8sEnv(w, c, `${w.metadata.name}-0`, '10.0.0.7');
      const [role, ...args] = expandK8s(c.args, env);
      out.push({ source: `k8s:${w.kind}/${w.metadata.name}`, role: role!, args, env: cairnVars(env) });
    }
  }
  for (const cmd of systemdCommands()) {
    const unit = cmd.source.slice('systemd:'.length);
    const env = envFile(envExampleFor(unit));
    out.push({ ...cmd, args: expandSystemd(cmd.args, cmd.role === 'meta' ? 'm1' : 'c1', env), env });
  }
  return out;
}

describe('deployment command lines and the CLI', () => {
  const help = new Map<string, Set<string>>();
  beforeAll(async () => {
    assertBuilt();
    for (const role of ['meta', 'chunk', 'gateway']) help.set(role, await helpFlags(role));
  });

  it('every flag every deployment file passes is one `cairn <role> --help` lists', () => {
    const cmds = expandedCommands();
    expect(cmds.length).toBe(15);
    for (const c of cmds) {
      const known = help.get(c.role);
      expect(known, `${c.source}: cairn ${c.role}`).toBeDefined();
      for (const f of flagsOf(c.args)) expect(known!.has(f), `${c.source}: cairn ${c.role} ${f}`).toBe(true);
    }
  });

  it('every command line is accepted and stops only at its secret file, absent on this machine', async () => {
    const cmds = expandedCommands();
    for (const c of cmds) {
      const secret = flagValue(c.args, '--secret-file') ?? flagValue(c.args, '--token-file');
      expect(secret, c.source).toBeDefined();
      // The paths are the deployment's, not this machine's: none may exist here.
      expect(existsSync(secret!), `${c.source}: ${secret} must not exist here`).toBe(false);
    }
    // A few at a time: the machine the suite runs on may have two cores.
    const results: Awaited<ReturnType<typeof runCli>>[] = [];
    for (let i = 0; i < cmds.length; i += 4) {
      results.push(...(await Promise.all(cmds.slice(i, i + 4).map((c) => runCli([c.role, ...c.args], { timeoutMs: 30_000, env: c.env })))));
    }
    cmds.forEach((c, i) => {
      const r = results[i]!;
      const secret = flagValue(c.args, '--secret-file') ?? flagValue(c.args, '--token-file');
      const what = c.role === 'gateway' ? 'client token' : 'cluster secret';
      expect(r.code, `${c.source}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr, c.source).toContain(`cannot read ${what} file ${secret}`);
    });
  });
});

/** One server of a topology, its command made local (loopback addresses, temporary paths). */
interface LocalServer {
  name: string;
  role: string;
  args: string[];
  /** The CAIRN_ variables its runner sets (none in the files need mapping). */
  env: Record<string, string>;
}

interface LocalTopology {
  servers: LocalServer[];
  /** The client token the topology's gateway expects. */
  token: string;
  gatewayUrl: string;
  /** [id, registered address] of every chunk server. */
  chunks: Array<[string, string]>;
}

/**
 * host:port → host:port with the host mapped (0.0.0.0 → `self`, when given: an address others
 * dial, such as --advertise, may not be 0.0.0.0).
 */
function mapHost(addr: string, self: string | undefined, hosts: Map<string, string>): string {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i);
  const mapped = host === '0.0.0.0' ? self : (hosts.get(host) ?? ([...hosts.values()].includes(host) ? host : undefined));
  if (mapped === undefined) throw new Error(`${addr} names no server of the topology`);
  return `${mapped}:${addr.slice(i + 1)}`;
}

/** --listen, --advertise, --meta, --peers values with their hosts mapped; other arguments through `other`. */
function mapArgs(args: string[], self: string, hosts: Map<string, string>, other: (a: string) => string): string[] {
  return args.map((a, i) => {
    const flag = args[i - 1];
    if (flag === '--listen') return mapHost(a, self, hosts);
    if (flag === '--advertise') return mapHost(a, undefined, hosts);
    if (flag === '--meta') return a.split(',').map((x) => mapHost(x, self, hosts)).join(',');
    if (flag === '--peers') return a.split(',').map((p) => `${p.split('=')[0]}=${mapHost(p.split('=')[1]!, self, hosts)}`).join(',');
    return other(a);
  });
}

/** A /24 of loopback addresses picked at random, so parallel runs do not meet (the ports stay the files'). */
function loopbackNet(): string {
  return `127.${2 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 256)}`;
}

const TEST_TOKEN = 'deploy-test-client-token-0123456789';

/** Each compose service a process at its own loopback address; secrets and volumes in `root`. */
function composeTopology(root: string): LocalTopology {
  const c = compose();
  const services = c.services as Record<string, Yaml>;
  const names = Object.keys(services);
  const net = loopbackNet();
  const ip = new Map(names.map((n, i) => [n, `${net}.${i + 1}`]));
  const values: Record<string, string> = { cluster_secret: 'deploy-test-cluster-secret-0123456789abcdef', client_token: TEST_TOKEN };
  for (const s of Object.keys(c.secrets as Record<string, unknown>)) writeFileSync(join(root, 'secrets', s), `${values[s]}\n`, { mode: 0o600 });
  const servers = names.map((name) => {
    const svc = services[name];
    const mounts = new Map(((svc.volumes ?? []) as string[]).map((v) => [v.split(':')[1]!, join(root, 'volumes', v.split(':')[0]!)]));
    const [role, ...args] = svc.command as string[];
    const local = mapArgs(args, ip.get(name)!, ip, (a) => {
      const secret = /^\/run\/secrets\/(.+)$/.exec(a);
      if (!secret) return mounts.get(a) ?? a;
      if (!(svc.secrets as string[]).includes(secret[1]!)) throw new Error(`${name} is not granted ${secret[1]}`);
      return join(root, 'secrets', secret[1]!);
    });
    return { name, role: role!, args: local, env: cairnVars((svc.environment ?? {}) as Record<string, string>) };
  });
  const gw = servers.find((x) => x.role === 'gateway')!;
  const chunks = servers.filter((x) => x.role === 'chunk').map((x): [string, string] => [flagValue(x.args, '--id')!, registeredAddr(x.args)]);
  return { servers, token: TEST_TOKEN, gatewayUrl: `http://${flagValue(gw.args, '--listen')}`, chunks };
}

/**
 * Each pod of the kustomize base a process at its own loopback address (the gateway Deployment
 * scaled to one): pod DNS names (pod.service) and POD_IP map to it, the Secret's values (the
 * base's placeholders) become files where the pod mounts them, claims become directories.
 */
function k8sTopology(root: string): LocalTopology {
  const net = loopbackNet();
  const secret = (k8sObjects() as Yaml[]).find((o) => o.kind === 'Secret');
  const values = (secret.stringData ?? {}) as Record<string, string>;
  for (const [k, v] of Object.entries(values)) writeFileSync(join(root, 'secrets', k), `${v}\n`, { mode: 0o600 });
  const pods: Array<{ name: string; w: Yaml; c: Yaml; ip: string }> = [];
  for (const w of k8sWorkloads() as Yaml[]) {
    const n = w.kind === 'StatefulSet' ? (w.spec.replicas as number) : 1;
    for (let i = 0; i < n; i++) pods.push({ name: `${w.metadata.name}-${i}`, w, c: w.spec.template.spec.containers[0], ip: `${net}.${pods.length + 1}` });
  }
  const hosts = new Map(pods.filter((p) => p.w.kind === 'StatefulSet').map((p) => [`${p.name}.${p.w.spec.serviceName}`, p.ip]));
  const servers = pods.map(({ name, w, c, ip }) => {
    const env = k8sEnv(w, c, name, ip);
    const [role, ...args] = expandK8s(c.args, env);
    const local = mapArgs(args, ip, hosts, (a) => {
      const mount = (c.volumeMounts as Yaml[]).find((m) => a === m.mountPath || a.startsWith(`${m.mountPath}/`));
      if (!mount) return a;
      const vol = (w.spec.template.spec.volumes ?? []).find((v: Yaml) => v.name === mount.name);
      if (vol?.secret) {
        const file = a.slice(mount.mountPath.length + 1);
        const key = vol.secret.items ? (vol.secret.items as Yaml[]).find((i) => i.path === file)?.key : file;
        if (key === undefined || !(key in values)) throw new Error(`${name}: ${a} is no key of the Secret`);
        return join(root, 'secrets', key);
      }
      return join(root, 'volumes', name) + a.slice(mount.mountPath.length);
    });
    return { name, role: role!, args: local, env: cairnVars(env) };
  });
  const gw = servers.find((x) => x.role === 'gateway')!;
  const chunks = servers.filter((x) => x.role === 'chunk').map((x): [string, string] => [x.name, registeredAddr(x.args)]);
  return { servers, token: values['client-token']!, gatewayUrl: `http://${flagValue(gw.args, '--listen')}`, chunks };
}

describe.each([
  ['compose', composeTopology],
  ['Kubernetes', k8sTopology],
])('the %s topology as local processes', (_, build) => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-deploy-'));
  const procs = new Map<string, LocalProcess>();
  const logFds: number[] = [];
  let topo: LocalTopology;

  beforeAll(() => {
    assertBuilt();
    for (const d of ['secrets', 'volumes', 'logs']) mkdirSync(join(root, d), { mode: 0o700 });
    topo = build(root);
    for (const s of topo.servers) {
      const stderr = openSync(join(root, 'logs', `${s.name}.log`), 'a');
      logFds.push(stderr);
      procs.set(s.name, new LocalProcess({ id: s.name, argv: cairnArgv(s.role, ...s.args), stderr, env: cliEnv(s.env) }));
    }
    for (const p of procs.values()) p.start();
  });

  afterAll(async () => {
    await Promise.all([...procs.values()].map((p) => p.kill('SIGKILL')));
    for (const fd of logFds) closeSync(fd);
    rmSync(root, { recursive: true, force: true });
  });

  const log = (name: string): string => {
    try {
      return readFileSync(join(root, 'logs', `${name}.log`), 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '(no log)';
    }
  };

  it('forms a cluster: a file put through the gateway reads back, every chunk server registered at its address', async () => {
    const gw = topo.gatewayUrl;
    const auth = { authorization: `Bearer ${topo.token}` };
    const body = Buffer.alloc(1_500_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 131 + (i >>> 9)) & 0xff;
    const deadline = Date.now() + CLUSTER_DEADLINE_MS;
    let last = '';
    let put: Response | null = null;
    while (Date.now() < deadline) {
      for (const [n, p] of procs) if (!p.running) throw new Error(`${n} exited (${p.exitCode}):\n${log(n)}`);
      try {
        const r = await fetch(`${gw}/v1/files/deploy/check.bin`, { method: 'PUT', headers: auth, body, signal: AbortSignal.timeout(10_000) });
        last = `${r.status} ${await r.text()}`;
        if (r.status === 201) {
          put = r;
          break;
        }
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(300);
    }
    expect(put, `no successful PUT within ${CLUSTER_DEADLINE_MS} ms: ${last}`).not.toBeNull();
    const got = await fetch(`${gw}/v1/files/deploy/check.bin`, { headers: auth }).catch((e: unknown) => {
      const gateway = topo.servers.find((x) => x.role === 'gateway')!.name;
      throw new Error(`GET after the PUT failed: ${(e as Error).message} (${String((e as Error).cause)}); the gateway's log:\n${log(gateway)}`);
    });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);

    let registered: Array<{ id: string; addr: string; state: string }> = [];
    while (Date.now() < deadline) {
      const st = (await (await fetch(`${gw}/v1/status`, { headers: auth })).json()) as { chunkServers: typeof registered };
      registered = st.chunkServers;
      if (registered.filter((x) => x.state === 'alive').length === topo.chunks.length) break;
      await sleep(300);
    }
    expect(registered.map((x) => [x.id, x.addr, x.state]).sort()).toEqual(topo.chunks.map(([id, addr]) => [id, addr, 'alive']).sort());
  });

  it('the container health check passes for every role, and fails for a process that is not a server', async () => {
    const script = join(DEPLOY_DIR, 'healthcheck.mjs');
    // Retried until the deadline: run alone, this test may start before the servers listen.
    const deadline = Date.now() + CLUSTER_DEADLINE_MS;
    for (const [name, p] of procs) {
      let r = spawnSync(process.execPath, [script, String(p.pid)], { encoding: 'utf8', timeout: 10_000 });
      while (r.status !== 0 && Date.now() < deadline) {
        await sleep(500);
        r = spawnSync(process.execPath, [script, String(p.pid)], { encoding: 'utf8', timeout: 10_000 });
      }
      expect(r.status, `${name}: ${r.stderr}`).toBe(0);
    }
    const self = spawnSync(process.execPath, [script, String(process.pid)], { encoding: 'utf8', timeout: 10_000 });
    expect(self.status).toBe(1);
  });

  it('every server stops cleanly on SIGTERM (exit 0), and the health check then fails', async () => {
    const role = new Map(topo.servers.map((x) => [x.name, x.role]));
    const order = [...procs.keys()].sort((x, y) => rank(role.get(x)!) - rank(role.get(y)!));
    const script = join(DEPLOY_DIR, 'healthcheck.mjs');
    for (const name of order) {
      const p = procs.get(name)!;
      const code = await p.kill('SIGTERM', STOP_GRACE_MS);
      expect(code, `${name}:\n${log(name)}`).toBe(0);
    }
    const r = spawnSync(process.execPath, [script, String(procs.get(order[0]!)!.pid)], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(1);
  });
});

/** The address a chunk server registers: its --advertise, else its --listen. */
function registeredAddr(args: string[]): string {
  return flagValue(args, '--advertise') ?? flagValue(args, '--listen')!;
}

/** Stop order: gateway, chunk servers, then metadata servers (as `cairn dev` does). */
function rank(role: string): number {
  return role === 'gateway' ? 0 : role === 'chunk' ? 1 : 2;
}
