/**
 * Options of a daemon start, shared by the command line and the library, and
 * their validation. Validation touches nothing: it only reads the file system.
 */
import { accessSync, constants as fs, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ExitCode, TinydError, usageError } from "./errors";
import type { LaunchMethod } from "./launch";
import { ROLE_ENV } from "./self";
import type { ResourceLimit } from "./launch/request";
import type { LimitsOption } from "./limits";
import { planInRoot, planPrivileges, type RunAs } from "./privileges";
import { MAX_NOTIFY_FD, MIN_NOTIFY_FD, NOTIFY_FD_ENV, NOTIFY_SOCKET_ENV } from "./readiness/variables";

export interface DaemonOptions {
  /** Locked pidfile that holds the daemon's pid while it runs. */
  pidfile?: string;
  /** Working directory of the daemon. Default: "/". */
  cwd?: string;
  /** Keep the launcher's working directory instead of changing to `cwd`. */
  noChdir?: boolean;
  /** File that receives both stdout and stderr, appended, created with mode 0640. */
  output?: string;
  /** File that receives stdout, appended, created with mode 0640. */
  stdout?: string;
  /** File that receives stderr, appended, created with mode 0640. */
  stderr?: string;
  /** File mode creation mask, as a number or an octal string. Default: 0o022. */
  umask?: number | string;
  /** Keep the launcher's umask. */
  noUmask?: boolean;
  /** Variables to set, as an object or KEY=VALUE strings. */
  env?: Record<string, string> | readonly string[];
  /** Start from an environment of PATH alone, plus `env`. */
  clearEnv?: boolean;
  /** Keep inherited descriptors and stdio instead of closing them and using /dev/null. */
  noClose?: boolean;
  /** Keep ignored signals and the signal mask instead of resetting them. */
  keepSignals?: boolean;
  /** Do every step but the detach, and exec the command in place of the caller. */
  foreground?: boolean;
  /** How to start the daemon; see LAUNCH_ENV. Default: "auto". */
  launch?: LaunchMethod;

  // Privileges and resources.
  /** User to run as: a name or numeric uid, optionally with ":GROUP". Needs root unless it is tinyd's own user. */
  user?: string;
  /** Primary group to run as, a name or numeric gid. It becomes the only group, as a GROUP in `user` does. */
  group?: string;
  /** With `user`, keep HOME, USER, LOGNAME and SHELL instead of setting them from the user's entry. */
  keepEnv?: boolean;
  /** Directory to chroot into before the chdir. `cwd` and the command are then paths inside it. */
  chroot?: string;
  /** Niceness to set, from -20 to 19. */
  nice?: number | string;
  /** Resource limits: "NAME=SOFT[:HARD]" strings, or an object such as { nofile: 4096, core: "unlimited" }. */
  limits?: LimitsOption;
  /** true sets core=unlimited, false sets core=0. */
  core?: boolean;
  /** Files of KEY=VALUE lines, applied in order after the user's variables and before `env`. */
  envFile?: string | readonly string[];

  // Readiness
  /**
   * Resolve only once the daemon reports that it is ready, over sd_notify
   * (NOTIFY_SOCKET) or the notification descriptor. `true` waits up to 60
   * seconds, a number up to that many seconds, and 0 without a limit. When
   * the daemon exits first or the time runs out, the start rejects and
   * leaves no process and no pid in the pidfile.
   */
  waitReady?: boolean | number;
  /** Give the daemon the write end of a pipe at this descriptor (s6's notification-fd); implies `waitReady`. */
  notifyFd?: number;
}

/** A start with every option checked and every path absolute. */
export interface StartPlan {
  command: string[];
  path: string;
  env: string[];
  cwd: string | null;
  umask: number | null;
  pidfile: string | null;
  stdout: string | null;
  stderr: string | null;
  closeFds: boolean;
  resetSignals: boolean;
  foreground: boolean;
  launch: LaunchMethod;

  // Privileges and resources.
  runAs: RunAs | null;
  chroot: string | null;
  nice: number | null;
  limits: ResourceLimit[];

  /** Readiness to wait for; null returns as soon as the daemon has exec'd. */
  readiness?: ReadinessPlan | null;
}

export interface ReadinessPlan {
  /** null waits without a limit. */
  timeoutMs: number | null;
  notifyFd: number | null;
}

export const DEFAULT_READY_TIMEOUT_SECONDS = 60;

export const DEFAULT_UMASK = 0o022;
export const DEFAULT_CWD = "/";
/** PATH for --clear-env when the launcher has none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function parseUmask(value: number | string): number {
  const text = typeof value === "number" ? value.toString(8) : value.trim().replace(/^0o/i, "");
  if (!/^[0-7]{1,4}$/.test(text) || Number.parseInt(text, 8) > 0o777) {
    throw usageError(`invalid umask '${value}': expected an octal mode from 000 to 777, such as 022 or 077`, { umask: value });
  }
  return Number.parseInt(text, 8);
}

function parseEnvEntries(env: DaemonOptions["env"]): [string, string][] {
  if (env === undefined) return [];
  const entries: [string, string][] = Array.isArray(env)
    ? (env as readonly string[]).map((entry) => {
        const at = entry.indexOf("=");
        if (at <= 0) {
          throw usageError(`invalid environment entry '${entry}': expected KEY=VALUE with a non-empty KEY`, { env: entry });
        }
        return [entry.slice(0, at), entry.slice(at + 1)];
      })
    : Object.entries(env as Record<string, string>);
  for (const [key, value] of entries) {
    if (key === "" || key.includes("=") || key.includes("\0") || String(value).includes("\0")) {
      throw usageError(`invalid environment variable '${key}': names must be non-empty without '=' or NUL, values without NUL`, { env: key });
    }
  }
  return entries;
}

/**
 * Builds the daemon's environment from the launcher's, the options, and
 * nothing else. `layers` (the user's variables, the env files) come between
 * the launcher's and --env; a null value removes the variable.
 */
function buildEnvironment(options: DaemonOptions, layers: [string, string | null][] = []): Map<string, string> {
  const env = new Map<string, string>();
  if (options.clearEnv) {
    env.set("PATH", process.env.PATH ?? DEFAULT_PATH);
  } else {
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined) env.set(key, value);
    }
  }
  for (const [key, value] of layers) {
    if (value === null) env.delete(key);
    else env.set(key, value);
  }
  for (const [key, value] of parseEnvEntries(options.env)) env.set(key, String(value));
  // A tinyd started from a daemon must not take on a helper's role.
  for (const marker of Object.values(ROLE_ENV)) env.delete(marker);
  // An inherited notification descriptor number names a descriptor that the
  // daemon does not get unless --no-close keeps it. Readiness sets its own.
  if (!options.noClose) env.delete(NOTIFY_FD_ENV);
  return env;
}

function execError(command: string, reason: string, exitCode: number, path?: string): TinydError {
  return new TinydError("E_EXEC", `cannot run '${command}': ${reason}`, exitCode, { command, path });
}

/**
 * Finds the executable the way execvp(3) would, but before anything starts,
 * and returns its absolute path. A relative path is taken from the
 * launcher's directory, because the daemon changes to its own.
 */
export function resolveCommand(command: string, searchPath: string): string {
  if (command === "") throw usageError("the command is empty: name a program to run after --");

  let path: string;
  if (command.includes("/")) {
    path = resolve(command);
  } else {
    const found = Bun.which(command, { PATH: searchPath });
    if (found === null) {
      throw execError(command, `command not found in PATH (${searchPath}). Give its full path or fix PATH`, ExitCode.NOT_FOUND);
    }
    path = resolve(found);
  }

  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw execError(command, "No such file or directory", ExitCode.NOT_FOUND, path);
    throw execError(command, (error as Error).message, ExitCode.NOT_EXECUTABLE, path);
  }
  if (isDirectory) throw execError(command, "Is a directory", ExitCode.NOT_EXECUTABLE, path);
  try {
    accessSync(path, fs.X_OK);
  } catch {
    throw execError(command, "Permission denied (the file is not executable)", ExitCode.NOT_EXECUTABLE, path);
  }
  return path;
}

function checkDirectory(path: string): void {
  let reason: string | null = null;
  try {
    if (!statSync(path).isDirectory()) reason = "it is not a directory";
    else accessSync(path, fs.X_OK);
  } catch (error) {
    reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : "no search permission";
  }
  if (reason !== null) {
    const fix = reason === "it is not a directory" ? "Pass a directory to --cwd" : "Create it or pass another --cwd";
    throw new TinydError("E_CWD", `cannot change directory to ${path}: ${reason}. ${fix}`, ExitCode.NO_INPUT, { path });
  }
}

function checkParentDirectory(path: string, kind: "pidfile" | "output file"): void {
  const directory = dirname(path);
  let ok = false;
  try {
    ok = statSync(directory).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new TinydError(
      kind === "pidfile" ? "E_PIDFILE" : "E_OUTPUT",
      `cannot open ${kind} ${path}: directory ${directory} does not exist. Create it or choose another path`,
      ExitCode.CANNOT_CREATE,
      { path },
    );
  }
}

/**
 * Checks every option and returns the plan of the start. Throws a
 * TinydError naming the first invalid value; nothing is created or started.
 */
export function planStart(command: readonly string[], options: DaemonOptions = {}): StartPlan {
  if (command.length === 0) throw usageError("no command given: put the command to run after the options, for example: tinyd -p app.pid -- ./server");
  if (options.noChdir && options.cwd !== undefined) throw usageError("--cwd and --no-chdir contradict each other: give one of them");
  if (options.noUmask && options.umask !== undefined) throw usageError("--umask and --no-umask contradict each other: give one of them");
  if (options.output !== undefined && (options.stdout !== undefined || options.stderr !== undefined)) {
    throw usageError("-o/--output sets both stdout and stderr: combine it with neither --stdout nor --stderr");
  }
  for (const [name, value] of Object.entries({ pidfile: options.pidfile, output: options.output, stdout: options.stdout, stderr: options.stderr, cwd: options.cwd })) {
    if (value !== undefined && (typeof value !== "string" || value === "")) throw usageError(`invalid ${name} '${String(value)}': expected a path`);
  }

  const umask = options.noUmask ? null : parseUmask(options.umask ?? DEFAULT_UMASK);
  const readiness = planReadiness(options);
  const privileges = planPrivileges(options);
  if (readiness !== null && readiness.notifyFd === null && privileges.chroot !== null) {
    throw usageError("--wait-ready with --chroot needs --notify-fd: the readiness socket lies outside the new root, where the daemon cannot reach it");
  }
  const env = buildEnvironment(options, privileges.environment);
  // With --chroot, the command and the working directory are paths inside the root.
  const inRoot = privileges.chroot === null ? null : planInRoot(privileges.chroot, command[0]!, env.get("PATH") ?? DEFAULT_PATH, options.cwd);
  const path = inRoot?.path ?? resolveCommand(command[0]!, env.get("PATH") ?? DEFAULT_PATH);

  let cwd: string | null = null;
  if (inRoot) cwd = inRoot.cwd;
  else if (!options.noChdir) cwd = resolve(options.cwd ?? DEFAULT_CWD);
  if (cwd !== null && !inRoot) checkDirectory(cwd);

  const pidfile = options.pidfile === undefined ? null : resolve(options.pidfile);
  if (pidfile !== null) checkParentDirectory(pidfile, "pidfile");
  const stdout = options.output ?? options.stdout;
  const stderr = options.output ?? options.stderr;
  for (const file of [stdout, stderr]) if (file !== undefined) checkParentDirectory(resolve(file), "output file");

  return {
    command: [...command],
    path,
    env: [...env].map(([key, value]) => `${key}=${value}`),
    cwd,
    umask,
    pidfile,
    stdout: stdout === undefined ? null : resolve(stdout),
    stderr: stderr === undefined ? null : resolve(stderr),
    closeFds: !options.noClose,
    resetSignals: !options.keepSignals,
    foreground: options.foreground ?? false,
    launch: options.launch ?? "auto",
    runAs: privileges.runAs,
    chroot: privileges.chroot,
    nice: privileges.nice,
    limits: privileges.limits,
    readiness,
  };
}

/** Checks the readiness options; the variables that readiness sets may not also come from `env`. */
function planReadiness(options: DaemonOptions): ReadinessPlan | null {
  const { waitReady, notifyFd } = options;
  if ((waitReady === undefined || waitReady === false) && notifyFd === undefined) return null;

  let timeoutMs: number | null = DEFAULT_READY_TIMEOUT_SECONDS * 1000;
  if (typeof waitReady === "number") {
    if (!Number.isFinite(waitReady) || waitReady < 0) {
      throw usageError(`invalid --wait-ready '${waitReady}': expected a number of seconds, 0 or more (0 waits without a limit)`, { waitReady });
    }
    timeoutMs = waitReady === 0 ? null : waitReady * 1000;
  }
  if (notifyFd !== undefined && (!Number.isInteger(notifyFd) || notifyFd < MIN_NOTIFY_FD || notifyFd > MAX_NOTIFY_FD)) {
    throw usageError(`invalid --notify-fd '${notifyFd}': expected a descriptor number from ${MIN_NOTIFY_FD} to ${MAX_NOTIFY_FD}`, { notifyFd });
  }
  if (notifyFd === 3 && options.pidfile !== undefined && !options.noClose) {
    throw usageError("--notify-fd 3 collides with the pidfile lock, which the daemon holds on descriptor 3: choose 4 or higher");
  }
  if (options.foreground) {
    throw usageError("--wait-ready and --notify-fd need the launcher to stay until the daemon is ready, so they cannot be combined with --foreground");
  }
  for (const [key] of parseEnvEntries(options.env)) {
    if (key === NOTIFY_SOCKET_ENV || key === NOTIFY_FD_ENV) {
      throw usageError(`--env ${key} conflicts with readiness, which sets ${key} itself: remove it from --env`, { env: key });
    }
  }
  return { timeoutMs, notifyFd: notifyFd ?? null };
}
