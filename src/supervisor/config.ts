/**
 * Options of supervised mode, their validation, and the configuration that
 * the launcher hands to the supervisor process.
 */
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ExitCode, TinydError, usageError } from "../errors";
import { resolveRunAs } from "../identity";
import type { Credentials, ResourceLimit } from "../launch/request";
import type { ReadinessPlan, StartPlan } from "../options";
import { DEFAULT_RESTART_SETTINGS, type RestartSettings } from "./policy";

/** Options of supervised mode, as the command line and the library give them. */
export interface SupervisionOptions {
  /** Turn supervision on even without any other option of this group. */
  supervise?: boolean;
  restart?: boolean;
  /** First restart delay in seconds. Default: 1. */
  restartDelay?: number | string;
  /** Ceiling of the backoff in seconds. Default: 60. */
  restartMaxDelay?: number | string;
  /** Uptime in seconds that resets the backoff. Default: 10. */
  minUptime?: number | string;
  restartOn?: "always" | "failure" | string;
  /** Exit codes that end the service; numbers or comma-separated lists. */
  noRestartExit?: readonly (number | string)[];
  maxRestarts?: number | string;
  /** Window of maxRestarts in seconds. Default: 60. */
  restartWindow?: number | string;
  /** daemon(8)'s -C: maximum restarts in total. */
  restartLimit?: number | string;
  supervisorPidfile?: string;
  syslog?: boolean;
  syslogFacility?: string;
  syslogPriority?: string;
  syslogStderrPriority?: string;
  syslogTag?: string;
  syslogSocket?: string;
  reopenOnHup?: boolean;
  /** Rotate the log when it reaches this size: bytes, or with a K, M or G suffix. */
  maxSize?: number | string;
  /** Rotated logs to keep. Default: 5. */
  keep?: number | string;
  /** Mask of the child's streams that reach the output: 1 stdout, 2 stderr, 3 both. Default: 3. */
  outputMask?: number | string;
  timestamps?: boolean;
  title?: string;
  /** Seconds between SIGTERM and SIGKILL when the service stops. Default: 10. */
  stopTimeout?: number | string;
  /**
   * User (and ":GROUP") the supervisor itself switches to once it has
   * opened its pidfiles and log files. Without it the supervisor keeps
   * tinyd's privileges and only the child drops them.
   */
  supervisorUser?: string;
}

export interface SyslogSettings {
  socket: string;
  facility: number;
  priority: number;
  stderrPriority: number;
  tag: string;
}

/** Everything the supervisor process needs, sent to it as one JSON line. */
export interface SupervisorConfig {
  command: string[];
  path: string;
  env: string[];
  cwd: string | null;
  umask: number | null;
  childPidfile: string | null;
  supervisorPidfile: string | null;
  /** Output files; the launcher opened them as the supervisor's stdout and stderr. */
  stdout: string | null;
  stderr: string | null;
  outputMask: number;
  timestamps: boolean;
  maxSizeBytes: number | null;
  keep: number;
  reopenOnHup: boolean;
  syslog: SyslogSettings | null;
  restart: RestartSettings;
  stopTimeoutMs: number;
  title: string | null;
  /** Readiness each child must report; the first child's gates the launcher. Null for none. */
  readiness: ReadinessPlan | null;
  /** Credentials the supervisor switches to after opening its files; null keeps tinyd's. */
  supervisorCredentials: Credentials | null;
  /** Privileges and resources of each child; the supervisor itself keeps tinyd's unless supervisorCredentials is set. */
  credentials: Credentials | null;
  chroot: string | null;
  nice: number | null;
  limits: ResourceLimit[];
}

/** syslog(3) facilities by name, as numbers before the shift by 3. */
export const FACILITIES: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** syslog(3) severities by name. */
export const PRIORITIES: Record<string, number> = {
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
};

export const DEFAULT_SYSLOG_SOCKET = process.platform === "darwin" ? "/var/run/syslog" : "/dev/log";
const DEFAULT_KEEP = 5;
const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

const SUPERVISION_KEYS: readonly (keyof SupervisionOptions)[] = [
  "supervise",
  "restart",
  "restartDelay",
  "restartMaxDelay",
  "minUptime",
  "restartOn",
  "noRestartExit",
  "maxRestarts",
  "restartWindow",
  "restartLimit",
  "supervisorPidfile",
  "syslog",
  "syslogFacility",
  "syslogPriority",
  "syslogStderrPriority",
  "syslogTag",
  "syslogSocket",
  "reopenOnHup",
  "maxSize",
  "keep",
  "outputMask",
  "timestamps",
  "title",
  "stopTimeout",
  "supervisorUser",
];

/** Picks the supervision options out of a larger options object. */
export function supervisionOptionsOf(options: SupervisionOptions): SupervisionOptions {
  const picked: Record<string, unknown> = {};
  for (const key of SUPERVISION_KEYS) {
    if (options[key] !== undefined) picked[key] = options[key];
  }
  return picked as SupervisionOptions;
}

/** Tells whether two paths name one file: the same path, or hard links to one inode. */
function sameFile(first: string, second: string): boolean {
  if (first === second) return true;
  try {
    const a = statSync(first);
    const b = statSync(second);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/** Tells whether any option of the supervision group is present. */
export function supervisionRequested(options: SupervisionOptions): boolean {
  return Object.entries(options).some(([, value]) => value !== undefined && value !== false && !(Array.isArray(value) && value.length === 0));
}

function seconds(value: number | string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = typeof value === "number" ? value : Number(value.trim() === "" ? Number.NaN : value);
  if (!Number.isFinite(number) || number < 0) {
    throw usageError(`invalid --${option} '${value}': expected a number of seconds, 0 or more`, { [option]: value });
  }
  return number;
}

function count(value: number | string | undefined, option: string, minimum: number): number | null {
  if (value === undefined) return null;
  const text = String(value).trim();
  if (!/^\d+$/.test(text) || Number(text) < minimum) {
    throw usageError(`invalid --${option} '${value}': expected a whole number, ${minimum} or more`, { [option]: value });
  }
  return Number(text);
}

/** Parses a size such as 1048576, 512K, 10M or 1G (powers of 1024). */
export function parseSize(value: number | string): number {
  const match = /^\s*(\d+)\s*([KMG]?)i?B?\s*$/i.exec(String(value));
  const multiplier = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(match?.[2] ?? "").toUpperCase()];
  if (!match || multiplier === undefined || Number(match[1]) === 0) {
    throw usageError(`invalid --max-size '${value}': expected a size above 0 in bytes or with K, M or G, such as 10M`, { maxSize: value });
  }
  return Number(match[1]) * multiplier;
}

function exitCodes(values: readonly (number | string)[] | undefined): number[] {
  const codes: number[] = [];
  for (const value of values ?? []) {
    for (const part of String(value).split(",")) {
      const text = part.trim();
      if (!/^\d+$/.test(text) || Number(text) > 255) {
        throw usageError(`invalid --no-restart-exit '${value}': expected exit codes from 0 to 255, such as 0 or 0,78`, { noRestartExit: value });
      }
      codes.push(Number(text));
    }
  }
  return codes;
}

function lookup(table: Record<string, number>, value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = table[value.toLowerCase().replace(/^log_/, "")];
  if (number === undefined) {
    throw usageError(`invalid --${option} '${value}': expected one of ${Object.keys(table).join(", ")}`, { [option]: value });
  }
  return number;
}

function outputMask(value: number | string | undefined): number {
  if (value === undefined) return 3;
  const text = String(value).trim();
  if (text !== "1" && text !== "2" && text !== "3") {
    throw usageError(`invalid --output-mask '${value}': expected 1 (stdout), 2 (stderr) or 3 (both)`, { outputMask: value });
  }
  return Number(text);
}

/**
 * Resolves --supervisor-user. An unprivileged supervisor cannot start its
 * children as another user, so -u must then name the same user or be left out.
 */
function planSupervisorCredentials(plan: StartPlan, supervisorUser: string | undefined, supervisorPidfile: string | undefined): Credentials | null {
  if (supervisorUser === undefined) return null;
  const runAs = resolveRunAs(supervisorUser, undefined);
  const credentials = runAs?.credentials ?? null;
  const childUid = plan.runAs?.credentials?.uid;
  if (credentials !== null && childUid !== undefined && childUid !== null && childUid !== credentials.uid) {
    throw usageError(
      `-u ${plan.runAs!.display} and --supervisor-user ${supervisorUser} name different users, but a supervisor that is not root cannot start its child as another user: give the same user or leave one out`,
    );
  }
  if (credentials !== null) checkWritableBy(credentials, supervisorUser, [plan.pidfile, supervisorPidfile, plan.stdout, plan.stderr]);
  return credentials;
}

/**
 * Checks from the directories' owners and modes that a supervisor switched
 * to `credentials` can still create and remove files in the directories of
 * its pidfiles, state files and logs. Throws E_PERMISSION naming the first
 * one it cannot write to.
 * NOTE: ACLs and read-only mounts are not considered.
 */
function checkWritableBy(credentials: Credentials, user: string, paths: readonly (string | null | undefined)[]): void {
  for (const path of paths) {
    if (!path) continue;
    const directory = dirname(resolve(path));
    let stat;
    try {
      stat = statSync(directory);
    } catch {
      continue;
    }
    const uid = credentials.uid ?? process.getuid!();
    const inGroup = credentials.gid === stat.gid || credentials.groups.includes(stat.gid);
    // The permission bits that apply: the owner's, else the group's, else the others'.
    let bit = 0o002;
    if (stat.uid === uid) bit = 0o200;
    else if (inGroup) bit = 0o020;
    const writable = uid === 0 || (stat.mode & bit) !== 0;
    if (!writable) {
      throw new TinydError(
        "E_PERMISSION",
        `--supervisor-user ${user} cannot write to ${directory}, where the supervisor keeps ${path}: give the directory to that user (chown) or choose another path`,
        ExitCode.NO_PERMISSION,
        { path: directory },
      );
    }
  }
}

/**
 * Checks the supervision options against the start plan and returns the
 * supervisor's configuration. Throws E_USAGE naming the first invalid value.
 */
export function planSupervisor(plan: StartPlan, options: SupervisionOptions): SupervisorConfig {
  if (plan.foreground) throw usageError("--foreground and supervision options cannot be combined: a supervisor always detaches");

  const restartOn = options.restartOn ?? "always";
  if (restartOn !== "always" && restartOn !== "failure") {
    throw usageError(`invalid --restart-on '${restartOn}': expected always or failure`, { restartOn });
  }
  const restart: RestartSettings = {
    // Every option of the restart policy implies -r, as -R does in daemon(8).
    enabled: [
      options.restart === true ? true : undefined,
      options.restartDelay,
      options.restartLimit,
      options.restartMaxDelay,
      options.minUptime,
      options.restartOn,
      options.maxRestarts,
      options.restartWindow,
      options.noRestartExit?.length ? options.noRestartExit : undefined,
    ].some((value) => value !== undefined),
    delayMs: seconds(options.restartDelay, "restart-delay", DEFAULT_RESTART_SETTINGS.delayMs / 1000) * 1000,
    maxDelayMs: seconds(options.restartMaxDelay, "restart-max-delay", DEFAULT_RESTART_SETTINGS.maxDelayMs / 1000) * 1000,
    minUptimeMs: seconds(options.minUptime, "min-uptime", DEFAULT_RESTART_SETTINGS.minUptimeMs / 1000) * 1000,
    on: restartOn,
    noRestartExitCodes: exitCodes(options.noRestartExit),
    maxRestarts: count(options.maxRestarts, "max-restarts", 1),
    windowMs: seconds(options.restartWindow, "restart-window", DEFAULT_RESTART_SETTINGS.windowMs / 1000) * 1000,
    totalLimit: count(options.restartLimit, "restart-limit", 0),
  };
  if (restart.maxDelayMs < restart.delayMs) restart.maxDelayMs = restart.delayMs;
  if (options.supervisorPidfile !== undefined && plan.pidfile !== null && sameFile(resolve(options.supervisorPidfile), plan.pidfile)) {
    throw usageError(`-P and -p both name ${plan.pidfile}: the supervisor and its child need a pidfile each`);
  }

  const syslogRequested = options.syslog === true || [options.syslogFacility, options.syslogPriority, options.syslogTag, options.syslogSocket, options.syslogStderrPriority].some((value) => value !== undefined);
  const syslog: SyslogSettings | null = syslogRequested
    ? {
        socket: resolve(options.syslogSocket ?? DEFAULT_SYSLOG_SOCKET),
        facility: lookup(FACILITIES, options.syslogFacility, "syslog-facility", FACILITIES.daemon!),
        priority: lookup(PRIORITIES, options.syslogPriority, "syslog-priority", PRIORITIES.notice!),
        stderrPriority: lookup(PRIORITIES, options.syslogStderrPriority, "syslog-stderr-priority", PRIORITIES.err!),
        tag: options.syslogTag ?? plan.command[0]!.split("/").pop()!,
      }
    : null;
  if (syslog && (syslog.tag === "" || /[\s:[\]]/.test(syslog.tag))) {
    throw usageError(`invalid --syslog-tag '${syslog.tag}': expected a word without spaces, ':' or brackets`, { syslogTag: syslog.tag });
  }

  const keep = count(options.keep, "keep", 1) ?? DEFAULT_KEEP;
  const maxSizeBytes = options.maxSize === undefined ? null : parseSize(options.maxSize);
  if (maxSizeBytes !== null && plan.stdout === null && plan.stderr === null) {
    throw usageError("--max-size rotates an output file: give -o, --stdout or --stderr as well");
  }
  if (options.title !== undefined && (options.title === "" || options.title.includes("\0"))) {
    throw usageError(`invalid --title '${options.title}': expected a non-empty name`);
  }

  const supervisorCredentials = planSupervisorCredentials(plan, options.supervisorUser, options.supervisorPidfile);
  return {
    command: plan.command,
    path: plan.path,
    env: plan.env,
    cwd: plan.cwd,
    umask: plan.umask,
    childPidfile: plan.pidfile,
    supervisorPidfile: options.supervisorPidfile === undefined ? null : resolve(options.supervisorPidfile),
    stdout: plan.stdout,
    stderr: plan.stderr,
    outputMask: outputMask(options.outputMask),
    timestamps: options.timestamps === true,
    maxSizeBytes,
    keep,
    reopenOnHup: options.reopenOnHup === true,
    syslog,
    restart,
    stopTimeoutMs: seconds(options.stopTimeout, "stop-timeout", DEFAULT_STOP_TIMEOUT_SECONDS) * 1000,
    title: options.title ?? null,
    readiness: plan.readiness ?? null,
    supervisorCredentials,
    // A supervisor that switched users starts its children as that user already.
    credentials: supervisorCredentials === null ? (plan.runAs?.credentials ?? null) : null,
    chroot: plan.chroot,
    nice: plan.nice,
    limits: plan.limits,
  };
}
