/**
 * Privileges and resources of the daemon as one step of the start: the
 * options -u, --group, --keep-env, --chroot, --nice, --limit, --core and
 * --env-file checked and resolved before anything starts, the ownership of
 * the log files tinyd creates, and the messages for failures in the launch.
 */
import { fchownSync } from "node:fs";
import { posix } from "node:path";
import { checkDirectoryInRoot, checkRoot, resolveCommandInRoot } from "./chroot";
import { readEnvFile } from "./env-file";
import { ExitCode, TinydError, usageError } from "./errors";
import { resolveRunAs, type RunAs, userEnvironment } from "./identity";
import { type LaunchResult, LaunchStep, type ResourceLimit } from "./launch/request";
import { checkLimitsAllowed, checkLimitsSupported, formatLimit, type LimitsOption, parseLimits, parseNice } from "./limits";
import { errnoName, strerror } from "./posix/libc";

export type { RunAs } from "./identity";

/** The options of this group, as DaemonOptions declares them. */
export interface PrivilegeOptions {
  user?: string;
  group?: string;
  keepEnv?: boolean;
  chroot?: string;
  noChdir?: boolean;
  nice?: number | string;
  limits?: LimitsOption;
  core?: boolean;
  envFile?: string | readonly string[];
}

export interface PrivilegePlan {
  runAs: RunAs | null;
  /** Absolute path of the new root. */
  chroot: string | null;
  nice: number | null;
  limits: ResourceLimit[];
  /** Variables to set, or to remove where the value is null, before --env: the user's, then the env files'. */
  environment: [string, string | null][];
}

function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

/**
 * Checks and resolves the privilege options. Throws E_USAGE (64) for an
 * invalid value, E_NO_USER (67) for an unknown user or group, E_PERMISSION
 * (77) for what only root may do, and E_CHROOT or E_ENV_FILE (66) for a
 * missing root or env file. Reads the user database and the file system
 * only.
 */
export function planPrivileges(options: PrivilegeOptions): PrivilegePlan {
  for (const [name, value] of Object.entries({ user: options.user, group: options.group, chroot: options.chroot })) {
    if (value !== undefined && (typeof value !== "string" || value === "")) throw usageError(`invalid ${name} '${String(value)}': expected a non-empty string`);
  }
  if (options.keepEnv && options.user === undefined) {
    throw usageError("--keep-env needs -u/--user: it keeps the HOME, USER, LOGNAME and SHELL that -u would set");
  }
  if (options.chroot !== undefined && options.noChdir) {
    throw usageError("--chroot and --no-chdir cannot be combined: a working directory outside the new root is a way out of it");
  }
  const envFiles = typeof options.envFile === "string" ? [options.envFile] : [...(options.envFile ?? [])];
  for (const file of envFiles) if (typeof file !== "string" || file === "") throw usageError(`invalid env file '${String(file)}': expected a path`);
  const limits = parseLimits(options.limits, options.core);
  checkLimitsSupported(limits);
  const nice = parseNice(options.nice);

  const runAs = resolveRunAs(options.user, options.group);
  const chroot = options.chroot === undefined ? null : checkRoot(options.chroot);
  if (chroot !== null && !isRoot()) {
    throw new TinydError("E_PERMISSION", `cannot chroot to ${chroot}: only root can. Run tinyd as root, or leave out --chroot`, ExitCode.NO_PERMISSION, { path: chroot });
  }
  if (!isRoot()) checkLimitsAllowed(limits);

  const environment: [string, string | null][] = runAs && !options.keepEnv ? userEnvironment(runAs) : [];
  for (const file of envFiles) environment.push(...readEnvFile(file));
  return { runAs, chroot, nice, limits, environment };
}

/**
 * Resolves the command and the working directory inside the new root, where
 * the daemon will look for them. Both are returned as paths inside it.
 */
export function planInRoot(root: string, command: string, searchPath: string, cwdOption: string | undefined): { path: string; cwd: string } {
  const cwd = posix.resolve("/", cwdOption ?? "/");
  const path = resolveCommandInRoot(root, command, searchPath, cwd);
  checkDirectoryInRoot(root, cwd);
  return { path, cwd };
}

/**
 * Gives the log files that this start created to the daemon's user and
 * group, so that the daemon can reopen them (after a log rotation, say)
 * once it no longer runs as root. Files that existed keep their owner.
 */
export function chownCreatedFiles(files: readonly { fd: number; created: boolean }[], runAs: RunAs | null): void {
  const credentials = runAs?.credentials;
  if (!credentials) return;
  for (const file of files) if (file.created) fchownSync(file.fd, credentials.uid ?? -1, credentials.gid);
}

/** The plan fields that the messages below need. */
interface FailedPlan {
  command: string[];
  path: string;
  cwd: string | null;
  runAs: RunAs | null;
  chroot: string | null;
  nice: number | null;
  limits: ResourceLimit[];
}

function reasonOf(errno: number, syscall: string): string {
  // The fallback launch cannot read errno after some calls; it reports 0.
  return errno === 0 ? `${syscall}() failed` : strerror(errno);
}

function permissionOr(errno: number, otherwise: number): number {
  const name = errnoName(errno);
  return name === "EPERM" || name === "EACCES" ? ExitCode.NO_PERMISSION : otherwise;
}

/**
 * Returns the error for a launch that failed at one of the privilege steps,
 * or at exec or chdir inside a chroot, and null for every other failure.
 */
export function privilegeLaunchError(plan: FailedPlan, result: Extract<LaunchResult, { ok: false }>): TinydError | null {
  const { errno, step } = result;
  const details = { step: LaunchStep[step], errno: errno ? errnoName(errno) : undefined };
  const credentials = plan.runAs?.credentials;
  const identity = plan.runAs?.hasUser ? `user '${plan.runAs.display}' (uid ${credentials?.uid})` : `group ${credentials?.gid}`;

  switch (step) {
    case LaunchStep.Limits: {
      const limit = plan.limits[result.failedLimit ?? 0];
      const text = limit ? formatLimit(limit) : "a resource limit";
      // Root gets EPERM only where the system caps the resource, so it is no question of permission.
      const denied = !isRoot() && permissionOr(errno, 0) === ExitCode.NO_PERMISSION;
      const hint = denied ? ". Only root can raise a hard limit" : "";
      return new TinydError("E_LAUNCH", `cannot set limit ${text}: ${reasonOf(errno, "setrlimit")}${hint}`, denied ? ExitCode.NO_PERMISSION : ExitCode.OS_ERROR, details);
    }
    case LaunchStep.Nice: {
      const hint = permissionOr(errno, 0) === ExitCode.NO_PERMISSION ? ". Only root can lower the niceness" : "";
      return new TinydError("E_LAUNCH", `cannot set niceness ${plan.nice}: ${reasonOf(errno, "setpriority")}${hint}`, permissionOr(errno, ExitCode.OS_ERROR), details);
    }
    case LaunchStep.Chroot: {
      const missing = errnoName(errno) === "ENOENT" || errnoName(errno) === "ENOTDIR";
      return new TinydError("E_CHROOT", `cannot chroot to ${plan.chroot}: ${reasonOf(errno, "chroot")}`, missing ? ExitCode.NO_INPUT : permissionOr(errno, ExitCode.OS_ERROR), details);
    }
    case LaunchStep.Setgroups:
      return new TinydError("E_LAUNCH", `cannot set the groups of ${identity} to ${credentials?.groups.join(",")}: ${reasonOf(errno, "setgroups")}`, permissionOr(errno, ExitCode.OS_ERROR), details);
    case LaunchStep.Setgid:
      return new TinydError("E_LAUNCH", `cannot switch to group ${credentials?.gid} for ${identity}: ${reasonOf(errno, "setgid")}`, permissionOr(errno, ExitCode.OS_ERROR), details);
    case LaunchStep.Setuid: {
      // Linux before 3.1 refused setuid() to a user at its RLIMIT_NPROC with EAGAIN.
      const temporary = errnoName(errno) === "EAGAIN";
      return new TinydError("E_LAUNCH", `cannot switch to ${identity}: ${reasonOf(errno, "setuid")}`, temporary ? ExitCode.TEMPORARY_FAILURE : permissionOr(errno, ExitCode.OS_ERROR), details);
    }
    case LaunchStep.RootRegained:
      return new TinydError("E_LAUNCH", `the daemon could still regain root with setuid(0) after switching to ${identity}, so tinyd did not start it`, ExitCode.OS_ERROR, details);
    case LaunchStep.Exec:
    case LaunchStep.Chdir:
      break;
    default:
      return null;
  }

  if (plan.chroot === null) return null;
  const reason = reasonOf(errno, step === LaunchStep.Exec ? "execve" : "chdir");
  if (step === LaunchStep.Chdir) {
    return new TinydError("E_CWD", `cannot change directory to ${plan.cwd} in chroot ${plan.chroot}: ${reason}`, ExitCode.NO_INPUT, details);
  }
  const notFound = errnoName(errno) === "ENOENT" || errnoName(errno) === "ENOTDIR";
  // The file itself was there when tinyd checked, so ENOENT usually means a missing interpreter or dynamic loader.
  const hint = notFound ? ". A script's interpreter and a program's dynamic loader and libraries must be inside the root too" : "";
  return new TinydError("E_EXEC", `cannot run '${plan.command[0]}' in chroot ${plan.chroot}: ${reason} (${plan.path} inside the root)${hint}`, notFound ? ExitCode.NOT_FOUND : ExitCode.NOT_EXECUTABLE, {
    ...details,
    command: plan.command[0],
    path: plan.path,
  });
}
