/**
 * The one error catalogue. Every operating error Cairn reports carries a stable `code` from
 * ERROR_CODES; the HTTP status and CLI wording are derived from it in one place each.
 * docs/errors.md documents every code (checked by test/unit/util/errors.test.ts).
 */
export const ERROR_CODES = {
  InvalidArgument: { status: 400, message: 'invalid argument' },
  InvalidPath: { status: 400, message: 'invalid path' },
  Unauthorized: { status: 401, message: 'missing or wrong credential' },
  NotFound: { status: 404, message: 'not found' },
  MethodNotAllowed: { status: 405, message: 'method not allowed on this resource' },
  AlreadyExists: { status: 409, message: 'already exists' },
  NotADirectory: { status: 409, message: 'not a directory' },
  IsADirectory: { status: 409, message: 'is a directory' },
  NotEmpty: { status: 409, message: 'directory not empty' },
  PreconditionFailed: { status: 412, message: 'precondition failed' },
  StaleRequest: { status: 409, message: 'request already answered and acknowledged by its client' },
  TooLarge: { status: 413, message: 'request or field too large' },
  RangeNotSatisfiable: { status: 416, message: 'range not satisfiable' },
  NotLeader: { status: 503, message: 'not the leader' },
  Unavailable: { status: 503, message: 'service unavailable' },
  Timeout: { status: 503, message: 'timed out' },
  ProposalDropped: { status: 503, message: 'proposal dropped' },
  ConfChangeInProgress: { status: 409, message: 'a membership change is already in progress' },
  LearnerNotCaughtUp: { status: 409, message: 'learner has not caught up with the leader' },
  Corrupt: { status: 500, message: 'data failed its checksum' },
  NoSpace: { status: 507, message: 'no space left on the chunk servers' },
  ProtocolError: { status: 400, message: 'malformed message' },
  Internal: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

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
    // caller what to do: where the leader is, that it should retry, that space ran out and where.
    this.expose = this.status < 500 || code === 'NotLeader' || code === 'Unavailable' || code === 'Timeout' || code === 'NoSpace';
    this.detail = detail;
  }
}

export function isCairnError(e: unknown, code?: ErrorCode): e is CairnError {
  return e instanceof CairnError && (code === undefined || e.code === code);
}
