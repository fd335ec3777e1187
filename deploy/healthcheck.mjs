// Container health check for every Cairn role: `node healthcheck.mjs [pid]` (default pid 1, the
// container's main process). It reads the server's own command line from /proc/<pid>/cmdline, so
// the check always probes the address the server was told to listen on: `meta` must accept a TCP
// connection there, `chunk` and `gateway` must answer GET /healthz with 200. Exit 0 healthy, 1 not.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import process from 'node:process';
import { setTimeout } from 'node:timers';

const TIMEOUT_MS = 2500;
const pid = process.argv[2] || '1';
let argv;
try {
  argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
} catch (err) {
  process.stderr.write(`cannot read the command line of process ${pid}: ${err.message}\n`);
  process.exit(1);
}
const role = ['meta', 'chunk', 'gateway'].find((r) => argv.includes(r));
const i = argv.indexOf('--listen');
if (!role || i < 0 || !argv[i + 1]) {
  process.stderr.write(`process ${pid} is not a cairn meta, chunk or gateway server\n`);
  process.exit(1);
}
const listen = argv[i + 1];
const colon = listen.lastIndexOf(':');
let host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(listen.slice(colon + 1));
if (host === '0.0.0.0') host = '127.0.0.1';
if (host === '::') host = '::1';
const fail = (why) => {
  process.stderr.write(`${role} at ${listen}: ${why}\n`);
  process.exit(1);
};
setTimeout(() => fail('no answer'), TIMEOUT_MS).unref();
if (role === 'meta') {
  const s = net.connect(port, host, () => {
    s.destroy();
    process.exit(0);
  });
  s.on('error', (err) => fail(err.message));
} else {
  http
    .get({ host, port, path: '/healthz' }, (res) => {
      res.resume();
      if (res.statusCode === 200) process.exit(0);
      fail(`/healthz answered ${res.statusCode}`);
    })
    .on('error', (err) => fail(err.message));
}
