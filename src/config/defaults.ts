/**
 * Every default value of Cairn, written once (DESIGN.md: "Defaults are written once, in
 * src/config"). Options elsewhere say `?? <NAME>` and their `@default` names the constant; CLI
 * flags show these values. Pure: no imports.
 *
 * A default is a starting point, not a limit of the code: each has its option (and most a flag).
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const HOUR_MS = 3_600_000;

// ---- cluster (metadata servers) -------------------------------------------------------------

/** Replicas per chunk (`cairn meta --replicas`). */
export const REPLICAS_DEFAULT = 3;
/** Chunk size handed to writers (`--chunk-size`). */
export const CHUNK_SIZE_BYTES_DEFAULT = 8 * MiB;
/** A chunk server silent this long is declared dead (`--dead-after`, in seconds there). */
export const DEAD_AFTER_MS_DEFAULT = 10_000;
/** How long a chunk token stays valid. */
export const TOKEN_TTL_MS_DEFAULT = HOUR_MS;
/** How long a client's write grant (fs.view) stays valid; at most the chunk token TTL. Clients refresh at half. */
export const WRITE_GRANT_TTL_MS_DEFAULT = 5 * 60_000;
/** Leader housekeeping period (liveness verdicts). */
export const LEADER_TICK_MS_DEFAULT = 500;
/** How often the leader plans repair. */
export const REPAIR_SCAN_MS_DEFAULT = 1000;
/**
 * The share of the leader's time periodic repair passes may take, in percent: on a chunk index so
 * large that a pass takes longer than this share of REPAIR_SCAN_MS_DEFAULT, the next periodic
 * pass waits for the last one's duration × 100 ÷ this (a server falling silent still starts one
 * at once).
 */
export const REPAIR_SCAN_SHARE_PERCENT_MAX = 5;
/** Chunks referenced by no file are deleted after this long (`--gc-grace`, in seconds there). */
export const GC_GRACE_MS_DEFAULT = HOUR_MS;
/** Repair copies in flight to one chunk server (`--repair-copies-max`). */
export const REPAIR_COPIES_PER_SERVER_MAX_DEFAULT = 8;
/** Repair commands handed to one server per heartbeat. */
export const REPAIR_COMMANDS_PER_HEARTBEAT_MAX_DEFAULT = 256;
/** A repair copy not confirmed within this long is scheduled again. */
export const REPAIR_COPY_TIMEOUT_MS_DEFAULT = 60_000;
/** A short chunk with no holder known dead is copied only once short this long (three default heartbeats). */
export const REPAIR_MISSING_GRACE_MS_DEFAULT = 3_000;
/** A server reported idle with copies outstanding gets them again after this long. */
export const REPAIR_IDLE_GRACE_MS_DEFAULT = 5_000;

/**
 * Largest file stored inline in its namespace entry (Raft-replicated with the metadata, no chunk
 * servers involved) (`cairn meta --inline-bytes-max`; 0: never inline). A file is also inlined
 * only if it is at most one chunk.
 */
export const INLINE_BYTES_MAX_DEFAULT = 64 * KiB;
/** Cap on the bytes of every inline file of the cluster together (`--inline-total-bytes-max`). */
export const INLINE_TOTAL_BYTES_MAX_DEFAULT = 4 * 1024 * MiB;

/** Virtual address space reserved for an LMDB map (Raft log, state); the file grows as needed up to it. */
export const LMDB_MAP_SIZE_BYTES_DEFAULT = 64 * 1024 * MiB;
/**
 * Least time between the starts of two LMDB transactions of a metadata server's applied state
 * (storage/state-overlay.ts): applied commands are visible at once and durable in
 * the Raft log; this sets how many of them share one state transaction under load.
 */
export const STATE_COMMIT_LINGER_MS_DEFAULT = 25;

// ---- Raft ----------------------------------------------------------------------------------

/** Length of one Raft tick (`cairn meta --tick-ms`). */
export const RAFT_TICK_MS_DEFAULT = 100;
/** Ticks before a follower campaigns (`--election-ticks`). */
export const RAFT_ELECTION_TICKS_DEFAULT = 10;
/** Snapshot and compact the log after this many applied entries (`--snapshot-entries`). */
export const SNAPSHOT_ENTRIES_DEFAULT = 10_000;
/** Entries kept behind a snapshot so slightly lagging followers need no snapshot. */
export const COMPACTION_LAG_ENTRIES_DEFAULT = 1000;
/** How long a proposal may wait to be applied before it fails with Timeout. */
export const PROPOSE_TIMEOUT_MS_DEFAULT = 10_000;
/** How long a linearizable read may wait. */
export const READ_TIMEOUT_MS_DEFAULT = 5000;

// ---- metadata listener (peers and clients on one address) -----------------------------------

/** A connection must authenticate within this long after it is accepted. */
export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 2000;
/** Unauthenticated connections held at once by one metadata server. */
export const HANDSHAKES_MAX_DEFAULT = 512;
/** Unauthenticated connections held at once from one source address. */
export const HANDSHAKES_PER_ADDR_MAX_DEFAULT = 128;
/** A connection that missed its handshake deadline is held, unread, this long before it is closed. */
export const HANDSHAKE_PARK_MS_DEFAULT = 30_000;
/** Connections held that way at once; beyond it the oldest is closed. */
export const HANDSHAKES_PARKED_MAX_DEFAULT = 4096;
/** msgpack values (map keys included) in a request whose limits name no count of their own. */
export const REQUEST_ELEMENTS_MAX_DEFAULT = 100_000;
/** Containers nested in a request (the request map is depth 1). */
export const REQUEST_DEPTH_MAX_DEFAULT = 16;

// ---- chunk servers -------------------------------------------------------------------------

/** Failure domain of a chunk server that names none (`cairn chunk --zone`). */
export const ZONE_DEFAULT = 'default';
/** Largest chunk a chunk server accepts (`cairn chunk --chunk-bytes-max`). */
export const CHUNK_BYTES_MAX_DEFAULT = 64 * MiB;
/** Checksum segment of new replicas (each replica records its own). */
export const SEGMENT_BYTES_DEFAULT = 64 * KiB;
/** Free bytes kept on a chunk disk; below it the server is full (`--reserve-bytes`). */
export const CHUNK_RESERVE_BYTES_DEFAULT = 0;
/** Bytes read from disk per step of a chunk read stream. */
export const CHUNK_READ_BATCH_BYTES_DEFAULT = 1 * MiB;
/**
 * 1 MiB staging buffers for replicas written around the page cache (two per replica being
 * written, so 8 at once; more are written buffered). 0 turns direct writes off. They stay in the
 * server's memory once made: a stalled upload holds its two, so the cap bounds what 64 stalled
 * uploads can pin (test/integration/sec-upload-budget.test.ts).
 */
export const CHUNK_DIRECT_BUFFERS_DEFAULT = 16;
/** Chunk-server heartbeat period (`--heartbeat-ms`). */
export const HEARTBEAT_MS_DEFAULT = 1000;
/** Chunk ids per report page / incremental update. */
export const REPORT_PAGE_CHUNKS_DEFAULT = 5000;
/** A full chunk report is sent at least this often. */
export const FULL_REPORT_MS_DEFAULT = 600_000;
/** How long the leader may hold a chunk server's work poll (cs.work). */
export const WORK_POLL_MS_DEFAULT = 10_000;
/** Repair copy bandwidth into one server, bytes/s (`--repair-bytes-per-sec`; 0: unlimited). */
export const REPAIR_BYTES_PER_SEC_DEFAULT = 32 * MiB;
/** Repair commands running at once on one server (`--repair-concurrency`). */
export const REPAIR_CONCURRENCY_MAX_DEFAULT = 4;
/** Longest a repair step waits behind client requests in flight on its chunk server (chunk/io-priority.ts). */
export const REPAIR_IO_QUANTUM_MS_DEFAULT = 20;
/** Share of the repair rate kept while clients are active on the server, in percent (chunk/io-priority.ts). */
export const REPAIR_IO_SHARE_MIN_PERCENT_DEFAULT = 25;
/** Time without client requests over which repair returns to its full rate (chunk/io-priority.ts). */
export const REPAIR_IO_RAMP_MS_DEFAULT = 1000;
/** Repair commands waiting on one server (more are dropped; the leader sends them again). */
export const REPAIR_QUEUE_MAX_DEFAULT = 10_000;
/** Every replica is re-verified at least once per period (`--scrub-period-sec`). */
export const SCRUB_PERIOD_MS_DEFAULT = 14 * 24 * HOUR_MS;
/** Read rate of the scrubber, bytes/s (`--scrub-bytes-per-sec`; 0: unlimited). */
export const SCRUB_BYTES_PER_SEC_DEFAULT = 8 * MiB;
/** `cairn scrub`: how long the command waits for its round (`--timeout`), and the leader keeps it running. */
export const SCRUB_ROUND_TIMEOUT_MS_DEFAULT = HOUR_MS;
/** `cairn scrub --bytes-per-sec`: read rate per server of an on-demand round (0: full disk speed). */
export const SCRUB_ROUND_BYTES_PER_SEC_DEFAULT = 0;

// ---- chunk data plane (HTTP) ---------------------------------------------------------------

/** Concurrent PUTs on one chunk server; more get 503 Unavailable. */
export const CHUNK_UPLOADS_MAX_DEFAULT = 64;
/** Downstream servers in one X-Cairn-Pipeline. */
export const PIPELINE_TARGETS_MAX_DEFAULT = 8;
/** A chunk server re-reads the cluster's chunk servers (pipeline targets) at most this often when it meets an unknown one. */
export const PIPELINE_PEERS_REFRESH_MIN_MS_DEFAULT = 1000;
/** ... and at least this often. */
export const PIPELINE_PEERS_MAX_AGE_MS_DEFAULT = 30_000;
/** Time for a chunk request's headers to arrive. */
export const CHUNK_HEADERS_TIMEOUT_MS_DEFAULT = 10_000;
/** Time for a whole chunk request (64 MiB at ≥ 1 MiB/s). */
export const CHUNK_REQUEST_TIMEOUT_MS_DEFAULT = 120_000;
/** A chunk-plane socket silent this long is closed / fails the request with Timeout (both sides). */
export const CHUNK_IDLE_TIMEOUT_MS_DEFAULT = 30_000;
/** Added to a PUT's idle timeout per downstream server in its pipeline. */
export const PIPELINE_TIMEOUT_EXTENSION_MS_DEFAULT = 5_000;
/** How often Node checks a chunk server's request timeouts. */
export const CHUNK_TIMEOUT_CHECK_INTERVAL_MS_DEFAULT = 1_000;
/** Socket read/write buffer per chunk-plane connection. */
export const CHUNK_SOCKET_BUFFER_BYTES_DEFAULT = 1 * MiB;
/** Clock skew tolerated on chunk-token expiry. */
export const TOKEN_SKEW_MS_DEFAULT = 30_000;
/** Keep-alive of idle HTTP connections (chunk servers and gateway). */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS_DEFAULT = 5_000;
/** Open sockets from one ChunkClient to one chunk server. */
export const CHUNK_SOCKETS_PER_HOST_MAX_DEFAULT = 64;

// ---- gateway -------------------------------------------------------------------------------

/** The gateway's limits (src/api GatewayLimits); each has its own field there. */
export const GATEWAY_LIMITS_DEFAULT = {
  /** `cairn gateway --inflight-max` */
  inflightMax: 512,
  /** `--per-client-inflight-max` */
  perClientInflightMax: 64,
  /** `--upload-bytes-max` */
  uploadBytesMax: 5 * 2 ** 40,
  multipartFilesMax: 100,
  multipartFieldsMax: 32,
  multipartFieldBytesMax: 64 * KiB,
  filenameBytesMax: 255,
  jsonBytesMax: 64 * KiB,
  listLimitMax: 10_000,
  /** `--upload-buffer-bytes-max`: bytes all uploads together hold in memory (api/upload-budget.ts) */
  uploadBufferBytesMax: 256 * 2 ** 20,
  /** `--upload-idle-timeout-ms`: an upload receiving nothing this long is cut off */
  uploadIdleTimeoutMs: 30_000,
} as const;
/** Entries per directory listing page (fs.list, /v1/ls) when the request names no limit. */
export const LIST_LIMIT_DEFAULT = 1000;
/** Snapshot pieces a leader sends ahead of the follower's acknowledgements. */
export const SNAPSHOT_WINDOW_PIECES_DEFAULT = 4;
/** A snapshot transfer fails when the follower acknowledges nothing for this long. */
export const SNAPSHOT_ACK_TIMEOUT_MS_DEFAULT = 10_000;
/** Unacknowledged request seqs the state machine remembers per client (exactly-once window). */
export const SESSION_WINDOW_MAX_DEFAULT = 1024;
/** Client sessions the state machine remembers. */
export const SESSIONS_MAX_DEFAULT = 10_000;
/** A gateway socket silent this long is closed (`--idle-timeout-ms`). */
export const GATEWAY_IDLE_TIMEOUT_MS_DEFAULT = 60_000;
/** Time for a gateway request's headers to arrive. */
export const GATEWAY_HEADERS_TIMEOUT_MS_DEFAULT = 30_000;
/** Largest header block of a gateway request. */
export const GATEWAY_HEADER_BYTES_MAX_DEFAULT = 16 * KiB;
/**
 * A refused request's unread body up to this length is read and dropped after the answer, and
 * the connection kept (a client still sending gets the answer instead of a reset); a longer
 * one, or one of unknown length, closes the connection (nginx's lingering close, bounded).
 * Gateway and chunk servers alike (src/net/unread-body.ts); a default chunk fits.
 */
export const UNREAD_BODY_DRAIN_BYTES_MAX = 8 * MiB;

// ---- client library ------------------------------------------------------------------------

/** Chunks being uploaded at once per write. */
export const UPLOADS_INFLIGHT_DEFAULT = 3;
/** Chunks fetched ahead of the reader per read. */
export const READ_AHEAD_DEFAULT = 3;
/**
 * Chunk buffers a client keeps idle right after a burst that used them all at once (piece-pool.ts:
 * beyond what one read or write uses, they are dropped after a few idle seconds). Eight Range
 * reads of one client hold ~18 at once; sized by measurement (bench/RESULTS.md, sixteenth session).
 */
export const CHUNK_BUFFERS_BURST_KEEP_DEFAULT = 24;
/** Per-attempt timeout of a metadata call. */
export const META_CALL_TIMEOUT_MS_DEFAULT = 5000;
/** A follower's forward of a client call to the leader: below META_CALL_TIMEOUT_MS_DEFAULT, so the client sees its answer. */
export const META_FORWARD_TIMEOUT_MS_DEFAULT = 4000;
/** Give up retrying a metadata call after this long. */
export const META_RETRY_DEADLINE_MS_DEFAULT = 30_000;
/** Give up when no metadata server answers for this long. */
export const META_UNREACHABLE_GIVE_UP_MS_DEFAULT = 5000;

// ---- `cairn dev` (a local cluster, tuned to react fast) -------------------------------------

/** Data directory of `cairn dev`. */
export const DEV_DIR_DEFAULT = './.cairn';
export const DEV_META_SERVERS_DEFAULT = 3;
export const DEV_CHUNK_SERVERS_DEFAULT = 4;
/** First port of the 1000 a dev cluster uses; the gateway listens on it. */
export const DEV_PORT_BASE_DEFAULT = 7000;
/**
 * `cairn dev` stores every file in chunks unless asked (`--inline-bytes-max 65536`): the contract's
 * `stat --json` lists each file's chunks and the chunk servers holding them, and scripts written
 * against it (corrupt a replica, kill its server, scrub) expect a small file to have some. The
 * metadata servers of a real deployment (`cairn meta`) inline by default.
 */
export const DEV_INLINE_BYTES_MAX_DEFAULT = 0;
/** Raft tick of a dev cluster (faster than RAFT_TICK_MS_DEFAULT: elections in ~0.5 s). */
export const DEV_RAFT_TICK_MS_DEFAULT = 50;
/** Chunk-server heartbeat of a dev cluster (faster than HEARTBEAT_MS_DEFAULT). */
export const DEV_HEARTBEAT_MS_DEFAULT = 500;
/** Metadata call timeouts of a chunk server's link to the leader. */
export const CHUNK_SERVER_META_CALL_TIMEOUT_MS_DEFAULT = 3000;
export const CHUNK_SERVER_META_RETRY_DEADLINE_MS_DEFAULT = 5000;
/**
 * `cairn status`: how long it waits for the leader's answer when a majority of the members
 * answer their own status (an election may be under way: a leader killed a second ago), and for
 * each member's own status. Without such a majority it reports the partial view at once; either
 * way within CONTRACT's 5 s.
 */
export const STATUS_LEADER_WAIT_MS_DEFAULT = 4000;
export const STATUS_PROBE_TIMEOUT_MS_DEFAULT = 1000;
/** `cairn status --watch`: seconds between refreshes. */
export const STATUS_WATCH_SEC_DEFAULT = 2;
/** Metrics endpoints: how long a scrape may wait for the leader's figures (repair, status) before it answers without them. */
export const METRICS_LEADER_WAIT_MS_DEFAULT = 2000;
/**
 * Metadata membership (leader/meta-membership.ts): a learner within this many entries of the
 * leader's log is promoted to voter (the Raft core's learnerCatchUpEntriesMax, 100, refuses more);
 * how long a stopping leader waits for its hand-over, and meta.transferLeader for the new leader.
 */
export const LEARNER_PROMOTE_LAG_ENTRIES_DEFAULT = 100;
export const LEADER_HANDOFF_WAIT_MS_DEFAULT = 2000;
export const LEADER_TRANSFER_WAIT_MS_DEFAULT = 5000;
/** meta.remove: how long the leader looks for the remaining voters' answers (over an election timeout). */
export const VOTER_ACTIVE_WINDOW_MS_DEFAULT = 1500;
/** A client refreshes its list of metadata servers from the leader at most this often (client/meta-session.ts). */
export const META_MEMBER_REFRESH_MS_DEFAULT = 30_000;
/** `cairn meta add`: seconds it waits for the new server to be promoted to voter. */
export const META_ADD_WAIT_SEC_DEFAULT = 60;
/** A server stopping on SIGTERM/SIGINT exits 1 if its drain has not finished after this long (cli/server-lifecycle.ts). */
export const SERVER_DRAIN_MS_DEFAULT = 20_000;
/**
 * The drain bound of a server whose launcher died (CAIRN_PARENT_PID, cli/server-lifecycle.ts):
 * its siblings are stopping at the same moment, so calls to them only wait out their deadlines,
 * and nobody waits for this drain; the stores are crash-safe either way.
 */
export const ORPHAN_DRAIN_MS_DEFAULT = 5_000;
