/**
 * The deployment files are consistent with themselves and with the repository: they parse, they
 * describe the topology the README promises, every port, path, secret, volume and variable they
 * use is defined where it must be. Whether the CLI accepts their command lines, and whether
 * the compose cluster works, is test/integration/deploy-files.test.ts.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../../src/server/local-process.js';
import {
  allCommands,
  cairnVars,
  compose,
  DEPLOY_DIR,
  dockerfile,
  envExampleFor,
  envFile,
  execForm,
  expandK8s,
  expandSystemd,
  flagValue,
  k8sEnv,
  k8sObjects,
  k8sWorkloads,
  kustomization,
  resolvedSettings,
  serverEnvNames,
  SYSTEMD_UNITS,
  systemdCommands,
  systemdUnit,
  yamlDocs,
  type Yaml,
} from './deploy-manifests.js';

const portOf = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
const DATA_DIR = '/var/lib/cairn';

describe('every deployment file parses', () => {
  it('YAML files load, each document an object', () => {
    const files = ['docker-compose.yml', ...readdirSync(join(DEPLOY_DIR, 'k8s')).map((f) => join('k8s', f))].filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const f of files) {
      const docs = yamlDocs(f);
      expect(docs.length, f).toBeGreaterThan(0);
      for (const d of docs) expect(typeof d, f).toBe('object');
    }
  });

  it('the Dockerfile and the systemd units parse', () => {
    expect(dockerfile().length).toBeGreaterThan(5);
    for (const u of SYSTEMD_UNITS) expect([...systemdUnit(u).keys()], u).toEqual(['Unit', 'Service', 'Install']);
  });

  it('every server command of every file is meta, chunk or gateway', () => {
    const cmds = allCommands();
    expect(cmds.length).toBe(8 + 4 + 3);
    for (const c of cmds) expect(['meta', 'chunk', 'gateway'], c.source).toContain(c.role);
  });
});

describe('Dockerfile', () => {
  const ins = dockerfile();
  const froms = ins.filter((i) => i.op === 'FROM');

  it('builds in one node:20-slim stage and runs from a second with production dependencies only', () => {
    expect(froms.map((f) => f.rest.split(/\s+/)[0])).toEqual(['node:20-slim', 'node:20-slim']);
    const second = ins.indexOf(froms[1]!);
    const first = ins.slice(0, second).map((i) => `${i.op} ${i.rest}`);
    expect(first.some((l) => /^RUN npm ci\b/.test(l))).toBe(true);
    expect(first.some((l) => /npm run build/.test(l) && /npm prune --omit=dev/.test(l))).toBe(true);
    const runCopies = ins.slice(second).filter((i) => i.op === 'COPY').map((i) => i.rest);
    for (const c of runCopies) expect(c, 'the runtime stage copies only from the build stage').toMatch(/^--from=build /);
    expect(runCopies.some((c) => /\/src\/(src|cli|test|bench)\b/.test(c.split(/\s+/)[1]!))).toBe(false);
  });

  it('copies only paths that exist in the repository', () => {
    const second = ins.indexOf(froms[1]!);
    for (const c of ins.slice(0, second).filter((i) => i.op === 'COPY')) {
      const parts = c.rest.split(/\s+/);
      for (const src of parts.slice(0, -1)) expect(existsSync(join(packageRoot(), src)), src).toBe(true);
    }
  });

  it('runs as a non-root user, declares the data volume, a health check, and the CLI as entrypoint', () => {
    const user = ins.filter((i) => i.op === 'USER').at(-1)!.rest;
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(execForm(ins.find((i) => i.op === 'VOLUME')!)).toEqual([DATA_DIR]);
    const health = ins.find((i) => i.op === 'HEALTHCHECK')!;
    const check = execForm({ op: 'CMD', rest: health.rest.slice(health.rest.indexOf('CMD')) });
    expect(check).toEqual(['node', '/app/healthcheck.mjs']);
    expect(ins.some((i) => i.op === 'COPY' && i.rest.endsWith(' ./healthcheck.mjs'))).toBe(true);
    const entry = execForm(ins.find((i) => i.op === 'ENTRYPOINT')!);
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { bin: { cairn: string } };
    expect(entry).toEqual(['node', `/app/${pkg.bin.cairn}`]);
  });

  it('exposes the ports the deployment files listen on', () => {
    const exposed = new Set(ins.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.rest.split(/\s+/).map(Number)));
    for (const c of allCommands().filter((x) => !x.source.startsWith('systemd'))) {
      expect(exposed.has(portOf(flagValue(c.args, '--listen')!)), c.source).toBe(true);
    }
  });
});

describe('docker-compose.yml', () => {
  const c = compose();
  const services = c.services as Record<string, Yaml>;
  const byRole = (role: string): [string, Yaml][] => Object.entries(services).filter(([, s]) => s.command[0] === role);

  it('runs 3 metadata servers, 4 chunk servers in two zones of two, and a gateway', () => {
    expect(byRole('meta').length).toBe(3);
    expect(byRole('gateway').length).toBe(1);
    const zones = byRole('chunk').map(([, s]) => flagValue(s.command, '--zone'));
    expect(zones.length).toBe(4);
    expect(new Set(zones).size).toBe(2);
    for (const z of new Set(zones)) expect(zones.filter((x) => x === z).length).toBe(2);
  });

  it('every name the commands dial is a service, on the port that service listens on', () => {
    const listenPort = (name: string): number => portOf(flagValue(services[name].command, '--listen')!);
    for (const [name, s] of Object.entries(services)) {
      const args = s.command as string[];
      const dialled = [
        ...(flagValue(args, '--peers')?.split(',').map((p) => p.split('=')[1]!) ?? []),
        ...(flagValue(args, '--meta')?.split(',') ?? []),
        ...(flagValue(args, '--advertise')?.split(',') ?? []),
      ];
      for (const addr of dialled) {
        const host = addr.slice(0, addr.lastIndexOf(':'));
        expect(services[host], `${name} dials ${addr}`).toBeDefined();
        expect(portOf(addr), `${name} dials ${addr}`).toBe(listenPort(host));
      }
      const peers = flagValue(args, '--peers');
      if (peers !== undefined) {
        expect(peers.split(',').map((p) => p.split('=')[0])).toContain(flagValue(args, '--id'));
        expect(peers.split(',').map((p) => p.split('=')[0]).sort()).toEqual(byRole('meta').map(([n]) => n).sort());
      }
    }
  });

  it('chunk servers listen on every interface and register an address other containers can dial (their own service name)', () => {
    for (const [name, s] of byRole('chunk')) {
      expect(flagValue(s.command, '--listen')).toBe('0.0.0.0:7101');
      expect(flagValue(s.command, '--advertise')).toBe(`${name}:7101`);
    }
  });

  it('every command resolves to a complete, valid configuration of its role', () => {
    for (const [name, s] of Object.entries(services)) {
      const [role, ...args] = s.command as string[];
      const env = cairnVars((s.environment ?? {}) as Record<string, string>);
      for (const k of Object.keys(env)) expect(serverEnvNames(role!), `${name}: ${k}`).toContain(k);
      expect(() => resolvedSettings(role!, args, env), name).not.toThrow();
    }
  });

  it('keeps data in named volumes mounted at --dir, the image volume', () => {
    const declared = Object.keys(c.volumes as Record<string, unknown>);
    const used: string[] = [];
    for (const [name, s] of Object.entries(services)) {
      const dir = flagValue(s.command, '--dir');
      if (dir === undefined) continue;
      expect(dir).toBe(DATA_DIR);
      const mounts = (s.volumes as string[]).map((v) => v.split(':'));
      const m = mounts.find(([, target]) => target === dir);
      expect(m, `${name} mounts a volume at ${dir}`).toBeDefined();
      expect(declared).toContain(m![0]);
      used.push(m![0]!);
    }
    expect(new Set(used).size, 'one volume per server').toBe(used.length);
    expect(used.sort()).toEqual(declared.sort());
  });

  it('reads the cluster secret and the client token from compose secrets it is granted', () => {
    const declared = c.secrets as Record<string, { file: string }>;
    expect(Object.keys(declared).sort()).toEqual(['client_token', 'cluster_secret']);
    for (const [name, s] of Object.entries(services)) {
      for (const flag of ['--secret-file', '--token-file']) {
        const path = flagValue(s.command, flag);
        if (path === undefined) continue;
        const m = /^\/run\/secrets\/([a-z_]+)$/.exec(path);
        expect(m, `${name} ${flag}`).not.toBeNull();
        expect(s.secrets as string[], `${name} is granted ${m![1]}`).toContain(m![1]);
        expect(declared[m![1]!]?.file, `${name} ${flag}`).toBe(flag === '--secret-file' ? './secrets/cluster.secret' : './secrets/client.token');
      }
      if (s.command[0] !== 'gateway') expect(flagValue(s.command, '--secret-file'), name).toBeDefined();
      if (s.command[0] !== 'chunk') expect(flagValue(s.command, '--token-file'), name).toBeDefined();
    }
  });

  it('every service has a health check (the image script) and the gateway publishes its port', () => {
    for (const [name, s] of Object.entries(services)) expect(s.healthcheck?.test, name).toEqual(['CMD', 'node', '/app/healthcheck.mjs']);
    const [, gw] = byRole('gateway')[0]!;
    const port = portOf(flagValue(gw.command, '--listen')!);
    expect(gw.ports).toContain(`${port}:${port}`);
  });
});

describe('Kubernetes base', () => {
  const objs = k8sObjects();
  const kind = (k: string): Yaml[] => objs.filter((o) => o.kind === k);
  const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
    Object.entries(selector).every(([k, v]) => labels[k] === v);

  it('lists resource files that exist, and nothing else in the folder', () => {
    const res = kustomization().resources as string[];
    const files = readdirSync(join(DEPLOY_DIR, 'k8s')).filter((f) => f !== 'kustomization.yaml');
    expect(res.slice().sort()).toEqual(files.sort());
  });

  it('runs metadata and chunk servers as StatefulSets with claim templates and headless services', () => {
    const sts = kind('StatefulSet');
    expect(sts.map((s) => s.spec.template.spec.containers[0].args[0]).sort()).toEqual(['chunk', 'chunk', 'meta']);
    for (const s of sts) {
      const claims = (s.spec.volumeClaimTemplates as Yaml[]).map((v) => v.metadata.name);
      const dataMount = (s.spec.template.spec.containers[0].volumeMounts as Yaml[]).find((m) => m.mountPath === DATA_DIR);
      expect(claims, s.metadata.name).toContain(dataMount?.name);
      const svc = kind('Service').find((x) => x.metadata.name === s.spec.serviceName);
      expect(svc?.spec.clusterIP, s.metadata.name).toBe('None');
      expect(matches(svc.spec.selector, s.spec.template.metadata.labels)).toBe(true);
      expect(matches(s.spec.selector.matchLabels, s.spec.template.metadata.labels)).toBe(true);
    }
    expect(kind('StatefulSet').filter((s) => s.spec.template.spec.containers[0].args[0] === 'chunk').reduce((n, s) => n + s.spec.replicas, 0)).toBe(4);
  });

  it('runs the gateway as a Deployment behind a Service', () => {
    const [d] = kind('Deployment');
    expect(d.spec.template.spec.containers[0].args[0]).toBe('gateway');
    expect(kind('Service').some((s) => s.spec.clusterIP !== 'None' && matches(s.spec.selector, d.spec.template.metadata.labels))).toBe(true);
  });

  it('every workload: probes on its listen port, requests, zone spread, secrets from the Secret', () => {
    const secret = kind('Secret')[0];
    const keys = Object.keys(secret.stringData ?? secret.data);
    for (const w of k8sWorkloads()) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, w.metadata.name).toBe(true);
      expect((pod.topologySpreadConstraints as Yaml[]).some((t) => t.topologyKey === 'topology.kubernetes.io/zone') || pod.nodeSelector?.['topology.kubernetes.io/zone'] !== undefined, w.metadata.name).toBe(true);
      for (const c of pod.containers as Yaml[]) {
        const env = k8sEnv(w, c, `${w.metadata.name}-0`, '10.0.0.7');
        const args = expandK8s(c.args, env);
        const port = portOf(flagValue(args, '--listen')!);
        const named = new Map<string, number>((c.ports as Yaml[]).map((p) => [p.name, p.containerPort]));
        expect([...named.values()], w.metadata.name).toContain(port);
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          expect(probe, w.metadata.name).toBeDefined();
          const p = probe.httpGet?.port ?? probe.tcpSocket?.port;
          if (p !== undefined) expect(typeof p === 'string' ? named.get(p) : p, w.metadata.name).toBe(port);
          else expect(probe.exec.command).toEqual(['node', '/app/healthcheck.mjs']);
        }
        expect(c.resources.requests.cpu && c.resources.requests.memory, w.metadata.name).toBeTruthy();
        for (const flag of ['--secret-file', '--token-file']) {
          const path = flagValue(args, flag);
          if (path === undefined) continue;
          const mount = (c.volumeMounts as Yaml[]).find((m) => path.startsWith(`${m.mountPath}/`));
          expect(mount, `${w.metadata.name} ${flag}`).toBeDefined();
          const vol = (pod.volumes as Yaml[]).find((v) => v.name === mount.name);
          expect(vol.secret.secretName).toBe(secret.metadata.name);
          const file = path.slice(mount.mountPath.length + 1);
          const items = vol.secret.items as Yaml[] | undefined;
          const key = items ? items.find((i) => i.path === file)?.key : file;
          expect(keys, `${w.metadata.name} ${flag}`).toContain(key);
          expect(key, `${w.metadata.name} ${flag}`).toBe(flag === '--secret-file' ? 'cluster-secret' : 'client-token');
        }
      }
    }
  });

  it('addresses dialled are the headless names of the metadata pods on their port', () => {
    const meta = kind('StatefulSet').find((s) => s.spec.template.spec.containers[0].args[0] === 'meta');
    const port = portOf(flagValue(meta.spec.template.spec.containers[0].args, '--listen')!);
    const names = Array.from({ length: meta.spec.replicas }, (_, i) => `${meta.metadata.name}-${i}.${meta.spec.serviceName}:${port}`);
    const metaArgs = meta.spec.template.spec.containers[0].args as string[];
    expect(flagValue(metaArgs, '--peers')).toBe(names.map((n) => `${n.split('.')[0]}=${n}`).join(','));
    expect(flagValue(metaArgs, '--id')).toBe('$(POD_NAME)');
    for (const w of k8sWorkloads().filter((x) => x.metadata.name !== meta.metadata.name)) expect(flagValue(w.spec.template.spec.containers[0].args, '--meta'), w.metadata.name).toBe(names.join(','));
  });

  it('every chunk server gets its own zone label as its zone; the two StatefulSets are two zones', () => {
    const zones: string[] = [];
    for (const s of kind('StatefulSet').filter((x) => x.spec.template.spec.containers[0].args[0] === 'chunk')) {
      const c = s.spec.template.spec.containers[0];
      const env = k8sEnv(s, c, 'x-0', '10.0.0.7');
      const [role, ...args] = expandK8s(c.args, env);
      // Listens everywhere; registers its stable name under the headless Service, never 0.0.0.0.
      expect(flagValue(args, '--listen'), s.metadata.name).toBe('0.0.0.0:7101');
      expect(flagValue(args, '--advertise'), s.metadata.name).toBe(`x-0.${s.spec.serviceName}:7101`);
      const zone = resolvedSettings(role!, args, cairnVars(env)).zone as string;
      expect(zone).toBe(s.spec.template.spec.nodeSelector['topology.kubernetes.io/zone']);
      zones.push(zone);
    }
    expect(new Set(zones).size).toBe(2);
  });

  it('every container: each CAIRN_ variable is one its role reads, and the settings are complete and valid', () => {
    for (const w of k8sWorkloads()) {
      for (const c of w.spec.template.spec.containers as Yaml[]) {
        const env = k8sEnv(w, c, `${w.metadata.name}-0`, '10.0.0.7');
        const [role, ...args] = expandK8s(c.args, env);
        for (const k of Object.keys(cairnVars(env))) expect(serverEnvNames(role!), `${w.metadata.name}: ${k}`).toContain(k);
        expect(() => resolvedSettings(role!, args, cairnVars(env)), w.metadata.name).not.toThrow();
      }
    }
  });

  it('disruption budgets cover every workload', () => {
    const pdbs = kind('PodDisruptionBudget');
    for (const w of k8sWorkloads()) {
      expect(pdbs.some((p) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels)), w.metadata.name).toBe(true);
    }
  });
});

describe('systemd units', () => {
  const HARDENING = ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=', 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'SystemCallFilter=@system-service'];

  it('run as the cairn user with hardening, writing only their state directory', () => {
    for (const u of SYSTEMD_UNITS) {
      const svc = systemdUnit(u).get('Service')!;
      expect(svc.get('User'), u).toEqual(['cairn']);
      for (const h of HARDENING) {
        const [k, v] = [h.slice(0, h.indexOf('=')), h.slice(h.indexOf('=') + 1)];
        expect(svc.get(k), `${u} ${k}`).toEqual([v]);
      }
      const cmd = systemdCommands().find((c) => c.source === `systemd:${u}`)!;
      const dir = flagValue(cmd.args, '--dir');
      if (dir === undefined) continue;
      expect(svc.get('ReadWritePaths'), u).toEqual([dir]);
      expect(`/var/lib/${svc.get('StateDirectory')![0]}`, u).toBe(dir);
    }
  });

  it('the example env file holds only variables `cairn <role>` reads, and with it the unit is completely configured', () => {
    for (const cmd of systemdCommands()) {
      const unit = cmd.source.slice('systemd:'.length);
      const envPath = systemdUnit(unit).get('Service')!.get('EnvironmentFile')![0]!;
      expect(envPath).toMatch(/^\/etc\/cairn\//);
      const env = envFile(envExampleFor(unit));
      expect(Object.keys(env).length, unit).toBeGreaterThan(0);
      for (const k of Object.keys(env)) expect(serverEnvNames(cmd.role), `${unit}: ${k}`).toContain(k);
      // The settings are read by cairn itself: ExecStart expands no variable.
      const args = expandSystemd(cmd.args, 'x1', {});
      for (const a of args) expect(a, unit).not.toMatch(/\$/);
      expect(() => resolvedSettings(cmd.role, args, env), unit).not.toThrow();
    }
  });

  it('a chunk server example listens on every interface and registers a dialable address, never 0.0.0.0', () => {
    const env = envFile('systemd/chunk.env.example');
    expect(env.CAIRN_CHUNK_LISTEN).toMatch(/^0\.0\.0\.0:/);
    expect(env.CAIRN_CHUNK_ADVERTISE).toMatch(/^[a-z0-9.-]+:\d+$/);
    expect(env.CAIRN_CHUNK_ADVERTISE).not.toMatch(/^0\.0\.0\.0:/);
  });
});
