/**
 * The launch request shared by the native and the fallback launch: every
 * value already validated, every file already open.
 */
import type { ResourceName } from "../posix/constants";

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
  /** A write-only descriptor of the pidfile, through which the daemon writes its pid before exec. */
  pidWriteFd?: number | null;
  /** Close every inherited descriptor above 2 (besides the lock). */
  closeFds: boolean;
  /** Inherited descriptors to pass on when closeFds is false. */
  keepFds: number[];
  /** Reset ignored signals to their default action and empty the signal mask. */
  resetSignals: boolean;
  /** Skip the detach and exec in the calling process. */
  foreground: boolean;
  /**
   * Start a supervised child instead of a daemon: one fork, its own process
   * group, and the parent-death signal on Linux. The caller reaps it.
   */
  supervisedChild?: boolean;

  // Privileges and resources, applied in the daemon before exec in this
  // order: limits, niceness, chroot, chdir, then the user and groups.
  /** Identity to switch to; null keeps tinyd's. */
  credentials: Credentials | null;
  /** Directory to chroot into; `path` and `cwd` are then inside it. Null keeps the root. */
  chroot: string | null;
  /** Niceness to set, from -20 to 19; null keeps tinyd's. */
  nice: number | null;
  /** Resource limits to set. */
  limits: ResourceLimit[];

  /** Readiness: a descriptor of the launcher (`source`) that the daemon gets at `target`; null for none. */
  notifyFd?: { source: number; target: number } | null;
}

/**
 * User, group and supplementary groups, resolved to numbers by the parent
 * because the user database must not be read between fork and exec.
 */
export interface Credentials {
  /** User id for setuid(); null keeps tinyd's (a group change alone). */
  uid: number | null;
  /** Group id for setgid(). */
  gid: number;
  /** The whole supplementary group list for setgroups(). */
  groups: number[];
}

/** One setrlimit() call. */
export interface ResourceLimit {
  /** The name that --limit accepts, such as "nofile". */
  name: ResourceName;
  /** Soft and hard limit in the resource's unit (bytes, seconds, count); null is unlimited. */
  soft: number | null;
  hard: number | null;
}

/**
 * The steps that a launch reports on failure. The numbers are shared with
 * launch.c, so new steps are added at the end, out of their running order.
 */
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
  Limits = 13,
  Nice = 14,
  Chroot = 15,
  Setgroups = 16,
  Setgid = 17,
  Setuid = 18,
  /** setuid(0) succeeded after the switch to another user. */
  RootRegained = 19,
  Setpgid = 20,
}

export type LaunchResult =
  | { ok: true; pid: number }
  | {
      ok: false;
      step: LaunchStep;
      errno: number;
      /** At step Limits: the index in the request's `limits` of the limit that failed. */
      failedLimit?: number;
    };
