/**
 * Every setting of every server command, in one table per role: flag, help, parser, default.
 * The commands (meta-command.ts, chunk-command.ts, gateway-command.ts) declare their flags
 * from these tables and read the values through server-config.ts (flag > env > config file >
 * default); docs/configuration.md and the deployment tests list the variables from them.
 * Importing this file loads no server code.
 */
import { INLINE_FILE_BYTES_MAX } from '../src/proto/meta-fields.js';
import {
  CHUNK_IDLE_TIMEOUT_MS_DEFAULT,
  CHUNK_BYTES_MAX_DEFAULT,
  CHUNK_RESERVE_BYTES_DEFAULT,
  CHUNK_DIRECT_BUFFERS_DEFAULT,
  CHUNK_SIZE_BYTES_DEFAULT,
  DEAD_AFTER_MS_DEFAULT,
  GATEWAY_IDLE_TIMEOUT_MS_DEFAULT,
  GATEWAY_LIMITS_DEFAULT,
  GC_GRACE_MS_DEFAULT,
  HEARTBEAT_MS_DEFAULT,
  INLINE_BYTES_MAX_DEFAULT,
  INLINE_TOTAL_BYTES_MAX_DEFAULT,
  RAFT_ELECTION_TICKS_DEFAULT,
  RAFT_TICK_MS_DEFAULT,
  REPAIR_BYTES_PER_SEC_DEFAULT,
  REPAIR_CONCURRENCY_MAX_DEFAULT,
  REPAIR_COPIES_PER_SERVER_MAX_DEFAULT,
  REPLICAS_DEFAULT,
  SCRUB_BYTES_PER_SEC_DEFAULT,
  SCRUB_PERIOD_MS_DEFAULT,
  SNAPSHOT_ENTRIES_DEFAULT,
  ZONE_DEFAULT,
} from '../src/config/defaults.js';
import { UPLOAD_EXPIRY_HOURS_DEFAULT } from '../src/api/s3-upload-expiry.js';
import { hostPort, int, optional, required, text, withDefault, type ServerRole, type Settings } from './server-config.js';

/** The S3 region a gateway signs for when none is set. */
const S3_REGION_DEFAULT = 'us-east-1';

/** Every server's TLS files (src/server/tls-files.ts): all three or none. */
const TLS_SETTINGS = {
  tlsCert: optional('<file>', 'serve TLS with this PEM certificate (chain); needs --tls-key and --tls-ca; without it, plain TCP', text),
  tlsKey: optional('<file>', 'PEM private key of --tls-cert', text),
  tlsCa: optional('<file>', 'PEM CA certificate that verifies the servers this one connects to', text),
} satisfies Settings;

export const META_SETTINGS = {
  id: required('<id>', "this server's id, e.g. m1", text),
  listen: required('<host:port>', 'address to listen on for peers and clients (0.0.0.0:PORT: every interface)', hostPort()),
  advertise: optional('<host:port>', "address peers and clients dial; must be this server's entry in --peers", hostPort(), { unsetMeans: 'its --peers entry' }),
  peers: required('<list>', 'initial members: id=host:port,… (this server included; the addresses are the advertised ones)', text),
  dir: required('<path>', 'data directory', text),
  secretFile: required('<path>', 'file holding the cluster secret shared by all servers', text, { shared: true }),
  tokenFile: optional('<path>', 'file holding the client token (without it, clients are refused)', text, { shared: true }),
  tickMs: withDefault('<ms>', 'Raft tick length', int(1), RAFT_TICK_MS_DEFAULT),
  electionTicks: withDefault('<n>', 'ticks before a follower campaigns', int(1), RAFT_ELECTION_TICKS_DEFAULT),
  snapshotEntries: withDefault('<n>', 'snapshot and compact the log after this many entries', int(1), SNAPSHOT_ENTRIES_DEFAULT),
  replicas: withDefault('<n>', 'replicas per chunk', int(1), REPLICAS_DEFAULT),
  deadAfter: withDefault('<seconds>', 'seconds without a heartbeat before a chunk server counts as dead', int(1), DEAD_AFTER_MS_DEFAULT / 1000),
  chunkSize: withDefault('<bytes>', 'default chunk size for writers', int(1), CHUNK_SIZE_BYTES_DEFAULT),
  gcGrace: withDefault('<seconds>', 'chunks referenced by no file are deleted after this long (protects uploads in progress)', int(1), GC_GRACE_MS_DEFAULT / 1000),
  inlineBytesMax: withDefault('<bytes>', `largest file stored inline with its metadata, replicated by Raft (0: never; at most ${INLINE_FILE_BYTES_MAX})`, int(0, INLINE_FILE_BYTES_MAX), INLINE_BYTES_MAX_DEFAULT),
  inlineTotalBytesMax: withDefault('<bytes>', 'cap on the bytes of all inline files of the cluster; past it small files go to chunk servers', int(0), INLINE_TOTAL_BYTES_MAX_DEFAULT),
  repairCopiesMax: withDefault('<n>', 'repair copies in flight to one chunk server', int(1), REPAIR_COPIES_PER_SERVER_MAX_DEFAULT),
  metricsListen: optional('<host:port>', 'serve Prometheus metrics at http://host:port/metrics (Bearer: the client token of --token-file); without it, none', hostPort(true)),
  ...TLS_SETTINGS,
} satisfies Settings;

export const CHUNK_SETTINGS = {
  id: required('<id>', "this server's id, e.g. c1", text),
  listen: required('<host:port>', 'address the data plane listens on (0.0.0.0:PORT: every interface, then give --advertise)', hostPort()),
  advertise: optional('<host:port>', 'address registered with the metadata service, the one clients and other chunk servers dial', hostPort(), { unsetMeans: 'the --listen address' }),
  dir: required('<path>', 'data directory', text),
  meta: required('<addrs>', 'metadata server addresses, host:port,…', text, { shared: true }),
  secretFile: required('<path>', 'file holding the cluster secret', text, { shared: true }),
  zone: withDefault('<zone>', 'failure domain (replicas prefer distinct zones)', text, ZONE_DEFAULT),
  chunkBytesMax: withDefault('<n>', 'largest chunk accepted', int(0), CHUNK_BYTES_MAX_DEFAULT),
  reserveBytes: withDefault('<n>', 'free bytes to keep on the disk; below it the server is full', int(0), CHUNK_RESERVE_BYTES_DEFAULT),
  directBuffers: withDefault('<n>', '1 MiB buffers for writing replicas around the page cache, two per replica (0: every write through the page cache)', int(0), CHUNK_DIRECT_BUFFERS_DEFAULT),
  heartbeatMs: withDefault('<ms>', 'heartbeat period (at least 50)', int(0), HEARTBEAT_MS_DEFAULT),
  repairBytesPerSec: withDefault('<n>', 'bandwidth of repair copies into this server (0: unlimited)', int(0), REPAIR_BYTES_PER_SEC_DEFAULT),
  repairConcurrency: withDefault('<n>', 'repair commands at once', int(1), REPAIR_CONCURRENCY_MAX_DEFAULT),
  scrubPeriodSec: withDefault('<s>', 'every replica is re-verified within this period', int(1), SCRUB_PERIOD_MS_DEFAULT / 1000),
  scrubBytesPerSec: withDefault('<n>', 'read rate of the scrubber (0: unlimited)', int(0), SCRUB_BYTES_PER_SEC_DEFAULT),
  idleTimeoutMs: withDefault('<ms>', 'close a data-plane connection silent this long (aborts a stalled chunk upload); pipeline hops wait longer', int(1000), CHUNK_IDLE_TIMEOUT_MS_DEFAULT),
  metricsListen: optional('<host:port>', 'serve Prometheus metrics at http://host:port/metrics; without it, none', hostPort(true)),
  tokenFile: optional('<path>', 'file holding the client token, required from metrics scrapers as a Bearer token; without it, no auth', text, { shared: true }),
  ...TLS_SETTINGS,
} satisfies Settings;

export const GATEWAY_SETTINGS = {
  listen: required('<host:port>', 'HTTP address, e.g. 0.0.0.0:7000 (port 0: any free port)', hostPort(true)),
  meta: required('<addrs>', 'metadata server addresses, host:port,…', text, { shared: true }),
  tokenFile: optional('<path>', 'file holding the client token (required from HTTP clients as a Bearer token); without it, no auth', text, { shared: true }),
  inflightMax: withDefault('<n>', 'requests served at once; beyond it 503 + Retry-After', int(1), GATEWAY_LIMITS_DEFAULT.inflightMax),
  perClientInflightMax: withDefault('<n>', 'requests at once from one remote address', int(1), GATEWAY_LIMITS_DEFAULT.perClientInflightMax),
  uploadBytesMax: withDefault('<n>', 'largest upload (raw body or multipart file)', int(0), GATEWAY_LIMITS_DEFAULT.uploadBytesMax),
  uploadBufferBytesMax: withDefault('<n>', 'bytes all uploads together may hold in memory; beyond it new uploads get 503 + Retry-After', int(1), GATEWAY_LIMITS_DEFAULT.uploadBufferBytesMax),
  uploadIdleTimeoutMs: withDefault('<ms>', 'cut off an upload that receives nothing this long (nothing is stored)', int(100), GATEWAY_LIMITS_DEFAULT.uploadIdleTimeoutMs),
  s3Listen: optional('<host:port>', 'also serve the S3-compatible API on this address (docs/s3.md)', hostPort(true)),
  s3Credentials: optional('<path>', 'file of ACCESS_KEY_ID:SECRET lines the S3 API accepts (required with --s3-listen)', text),
  s3Region: withDefault('<region>', 'the region S3 requests are signed for', text, S3_REGION_DEFAULT),
  s3Domain: optional('<domain>', 'also serve virtual-host-style S3 requests: Host BUCKET.DOMAIN', text),
  s3UploadExpiryHours: withDefault('<n>', 'remove multipart uploads started longer ago', int(1), UPLOAD_EXPIRY_HOURS_DEFAULT),
  idleTimeoutMs: withDefault('<ms>', 'close a connection silent this long (aborts a stalled upload)', int(1000), GATEWAY_IDLE_TIMEOUT_MS_DEFAULT),
  ...TLS_SETTINGS,
} satisfies Settings;

export const SERVER_SETTINGS: Record<ServerRole, Settings> = { meta: META_SETTINGS, chunk: CHUNK_SETTINGS, gateway: GATEWAY_SETTINGS };
