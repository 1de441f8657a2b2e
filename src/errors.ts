/**
 * Typed errors of the toolkit. Each carries a stable `code` for programs and
 * the exit status that the command line uses for it.
 */

/** sysexits(3) values and the other exit statuses that tinyd documents. */
export const ExitCode = {
  OK: 0,
  /** start-stop-daemon's status for "already running"; also "did not stop in time". */
  FAILURE: 1,
  USAGE: 64,
  NO_INPUT: 66,
  NO_USER: 67,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  OS_ERROR: 71,
  CANNOT_CREATE: 73,
  TEMPORARY_FAILURE: 75,
  NO_PERMISSION: 77,
  /** The command was found but could not be run. */
  NOT_EXECUTABLE: 126,
  /** The command was not found. */
  NOT_FOUND: 127,
} as const;

export type ErrorCode =
  | "E_USAGE"
  | "E_ALREADY_RUNNING"
  | "E_PIDFILE"
  | "E_OUTPUT"
  | "E_CWD"
  | "E_EXEC"
  | "E_LAUNCH"
  | "E_NOT_RUNNING"
  | "E_TIMEOUT"
  | "E_SIGNAL"
  | "E_INTERNAL"
  // Privileges and environment.
  | "E_NO_USER"
  | "E_PERMISSION"
  | "E_CHROOT"
  | "E_ENV_FILE"
  // Readiness: the daemon exited before it reported ready (a timeout is E_TIMEOUT).
  | "E_NOT_READY";

export class TinydError extends Error {
  override name = "TinydError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly exitCode: number,
    /** The values involved: path, pid, errno name, step. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function usageError(message: string, details: Record<string, unknown> = {}): TinydError {
  return new TinydError("E_USAGE", message, ExitCode.USAGE, details);
}
