/**
 * The one error catalogue. Every operating error Cairn reports carries a stable `code` from
 * ERROR_CODES; the HTTP status and CLI wording are derived from it in one place each.
 * docs/errors.md documents every code with its status and retry flag (checked by
 * test/unit/util/errors.test.ts).
 *
 * `retryable`: the request may be sent again, to the same or another server, after a backoff —
 * the error says nothing about the request itself, only that the service could not take it now
 * (no leader, overloaded, timed out, proposal dropped). Whether a retry is SAFE also depends on
 * the request: a write that may already have been applied is only retried when it carries a
 * request id (client/meta-session.ts). Every other code is final for that request.
 */
export const ERROR_CODES = {
  InvalidArgument: { status: 400, retryable: false, message: 'invalid argument' },
  InvalidPath: { status: 400, retryable: false, message: 'invalid path' },
  Unauthorized: { status: 401, retryable: false, message: 'missing or wrong credential' },
  NotFound: { status: 404, retryable: false, message: 'not found' },
  MethodNotAllowed: { status: 405, retryable: false, message: 'method not allowed on this resource' },
  AlreadyExists: { status: 409, retryable: false, message: 'already exists' },
  NotADirectory: { status: 409, retryable: false, message: 'not a directory' },
  IsADirectory: { status: 409, retryable: false, message: 'is a directory' },
  NotEmpty: { status: 409, retryable: false, message: 'directory not empty' },
  PreconditionFailed: { status: 412, retryable: false, message: 'precondition failed' },
  StaleRequest: { status: 409, retryable: false, message: 'request already answered and acknowledged by its client' },
  TooLarge: { status: 413, retryable: false, message: 'request or field too large' },
  InlineRefused: { status: 413, retryable: false, message: 'file not stored inline; store it in chunks' },
  RangeNotSatisfiable: { status: 416, retryable: false, message: 'range not satisfiable' },
  NotLeader: { status: 503, retryable: true, message: 'not the leader' },
  Unavailable: { status: 503, retryable: true, message: 'service unavailable' },
  Timeout: { status: 503, retryable: true, message: 'timed out' },
  ProposalDropped: { status: 503, retryable: true, message: 'proposal dropped' },
  StaleRing: { status: 503, retryable: true, message: 'placed with an outdated ring; refresh the placement view and commit again' },
  ConfChangeInProgress: { status: 409, retryable: false, message: 'a membership change is already in progress' },
  LearnerNotCaughtUp: { status: 409, retryable: false, message: 'learner has not caught up with the leader' },
  Corrupt: { status: 500, retryable: false, message: 'data failed its checksum' },
  NoSpace: { status: 507, retryable: false, message: 'no space left on the chunk servers' },
  ProtocolError: { status: 400, retryable: false, message: 'malformed message' },
  Closed: { status: 503, retryable: false, message: 'the client was closed' },
  Internal: { status: 500, retryable: false, message: 'internal error' },
} as const satisfies Record<string, { status: number; retryable: boolean; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Whether an error with this code may go away when the same request is sent again later. */
export function isRetryable(code: ErrorCode): boolean {
  return ERROR_CODES[code].retryable;
}

export class CairnError extends Error {
  override name = 'CairnError';
  readonly code: ErrorCode;
  readonly status: number;
  /** Whether the message may be shown to a remote caller (false for 5xx internals). */
  readonly expose: boolean;
  /** Extra machine-readable detail, e.g. `{ leader: 'm2', leaderAddr: '127.0.0.1:7002' }` for NotLeader. */
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, detail?: Record<string, unknown>) {
    super(message ?? ERROR_CODES[code].message);
    this.code = code;
    this.status = ERROR_CODES[code].status;
    // 5xx messages stay on the server (they may name internals), except the ones that tell the
    // caller what to do: where the leader is, that it should retry, that space ran out and where,
    // which ring version to place with.
    this.expose = this.status < 500 || code === 'NotLeader' || code === 'Unavailable' || code === 'Timeout' || code === 'NoSpace' || code === 'StaleRing';
    this.detail = detail;
  }
}

export function isCairnError(e: unknown, code?: ErrorCode): e is CairnError {
  return e instanceof CairnError && (code === undefined || e.code === code);
}
