/**
 * The launch request shared by the native and the fallback launch: every
 * value already validated, every file already open.
 */

export interface LaunchRequest {
  /** Absolute path of the executable. */
  path: string;
  /** Argument vector, argv[0] included. */
  argv: string[];
  /** Environment as KEY=VALUE strings. */
  env: string[];
  /** Working directory of the daemon; null keeps the launcher's. */
  cwd: string | null;
  /** File mode creation mask; null keeps the launcher's. */
  umask: number | null;
  /** Descriptors to install as the daemon's stdio; null keeps the launcher's. */
  stdin: number | null;
  stdout: number | null;
  stderr: number | null;
  /** The locked pidfile, which the daemon keeps open; null without a pidfile. */
  lockFd: number | null;
  /** Close every inherited descriptor above 2 (besides the lock). */
  closeFds: boolean;
  /** Inherited descriptors to pass on when closeFds is false. */
  keepFds: number[];
  /** Reset ignored signals to their default action and empty the signal mask. */
  resetSignals: boolean;
  /** Skip the detach and exec in the calling process. */
  foreground: boolean;
  /** Readiness: a descriptor of the launcher (`source`) that the daemon gets at `target`; null for none. */
  notifyFd?: { source: number; target: number } | null;
}

/** The steps that a launch reports on failure, in the order they run. */
export enum LaunchStep {
  None = 0,
  Symbols = 1,
  Pipe = 2,
  Fork = 3,
  Setsid = 4,
  ForkDaemon = 5,
  Signals = 6,
  Fds = 7,
  Umask = 8,
  Chdir = 9,
  Pidfile = 10,
  Exec = 11,
  Report = 12,
}

export type LaunchResult =
  | { ok: true; pid: number }
  | { ok: false; step: LaunchStep; errno: number };
