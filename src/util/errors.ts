/**
 * One registry of error codes. Callers (the Docker reply path, the CLI, tests) branch on
 * `code`, never on message text; messages are for people and name the thing that was wrong.
 */
export const ErrorCode = {
  /** A network option (`ovs.bridge.*`) is unknown or malformed. */
  BadOption: 'DS_BAD_OPTION',
  /** A container label (`dovesnap.faucet.*`) is malformed. */
  BadLabel: 'DS_BAD_LABEL',
  /** Two networks (or a network and an operator DP) claim the same thing, e.g. a DPID. */
  Conflict: 'DS_CONFLICT',
  /** A network, endpoint or container the request names is not known. */
  NotFound: 'DS_NOT_FOUND',
  /** A request body from Docker does not have the shape the protocol promises. */
  BadRequest: 'DS_BAD_REQUEST',
  /** OVSDB refused a transaction or the connection was lost. */
  Ovsdb: 'DS_OVSDB',
  /** A host networking command (ip, ethtool, nft, nsenter) failed. */
  HostCommand: 'DS_HOST_COMMAND',
  /** The FAUCET configuration we rendered is invalid; it was not written. */
  FaucetInvalid: 'DS_FAUCET_INVALID',
  /** FAUCET refused to load a configuration; the previous one was restored. */
  FaucetRejected: 'DS_FAUCET_REJECTED',
  /** FAUCET did not confirm a configuration in time. */
  FaucetTimeout: 'DS_FAUCET_TIMEOUT',
  /** The Docker Engine API answered with an error or could not be reached. */
  Engine: 'DS_ENGINE',
  /** Something took longer than its deadline. */
  Timeout: 'DS_TIMEOUT',
  /** A connection was closed while requests were in flight. */
  Disposed: 'DS_DISPOSED',
  /** A lab file (`dovesnap lab`) is malformed; the error lists every problem with its line and column. */
  LabInvalid: 'DS_LAB_INVALID',
  /** An invariant of our own was broken: a bug. */
  Internal: 'DS_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class DovesnapError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DovesnapError';
    this.code = code;
  }
}

export function isDovesnapError(err: unknown, code?: ErrorCode): err is DovesnapError {
  return err instanceof DovesnapError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for logs and replies. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
