/**
 * Starting a daemon: validate, lock the pidfile, open the output files, launch,
 * and undo every side effect when a step fails.
 */
import { closeSync, constants as fs, fstatSync, openSync, unlinkSync } from "node:fs";
import { ExitCode, TinydError, usageError } from "./errors";
import { launch, LaunchStep } from "./launch";
import type { LaunchResult } from "./launch";
import { type DaemonOptions, planStart, type StartPlan } from "./options";
import { acquirePidfile, type PidfileLock, releasePidfile } from "./pidfile";
import { constants } from "./posix/constants";
import { errnoName, strerror } from "./posix/libc";
import { inheritedFds } from "./inherited-fds";
import type { StartReadiness } from "./readiness/start";

export interface StartedDaemon {
  pid: number;
  pidfile: string | null;
  /** With `waitReady`: true, since the start resolves only once the daemon is ready. */
  ready?: boolean;
  /** With `waitReady`: the last STATUS= the daemon sent before it was ready, if any. */
  status?: string | null;
}

/** Log files are readable by the owner and the owner's group only. */
const OUTPUT_MODE = 0o640;

interface OpenedFile {
  path: string;
  fd: number;
  created: boolean;
}

function openOutput(path: string): OpenedFile {
  const flags = fs.O_WRONLY | fs.O_APPEND | constants.O_CLOEXEC;
  try {
    return { path, fd: openSync(path, flags | fs.O_CREAT | fs.O_EXCL, OUTPUT_MODE), created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw outputError(path, error);
  }
  try {
    const fd = openSync(path, flags);
    if (fstatSync(fd).isDirectory()) {
      closeSync(fd);
      throw outputError(path, Object.assign(new Error("is a directory"), { code: "EISDIR" }));
    }
    return { path, fd, created: false };
  } catch (error) {
    if (error instanceof TinydError) throw error;
    throw outputError(path, error);
  }
}

function outputError(path: string, error: unknown): TinydError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === "EACCES" || code === "EPERM"
      ? "permission denied. Choose a file you can write to"
      : code === "EISDIR"
        ? "it is a directory. Name a file"
        : (error as Error).message;
  return new TinydError("E_OUTPUT", `cannot open output file ${path}: ${reason}`, ExitCode.CANNOT_CREATE, { path, errno: code });
}

/** Files and locks that a failed start must give back. */
class Resources {
  pidfile: PidfileLock | null = null;
  files: OpenedFile[] = [];

  open(path: string | null): number | null {
    if (path === null) return null;
    const known = this.files.find((file) => file.path === path);
    if (known) return known.fd;
    const file = openOutput(path);
    this.files.push(file);
    return file.fd;
  }

  /** Keeps the output files even after a failure, because a daemon that ran has written to them. */
  keepOutputFiles(): void {
    for (const file of this.files) file.created = false;
  }

  /** Closes everything; after a failure also removes what this start created. */
  release(failed: boolean): void {
    for (const file of this.files) {
      closeSync(file.fd);
      if (failed && file.created) {
        try {
          // The daemon never ran, so nothing but this start has touched the file.
          unlinkSync(file.path);
        } catch {
          // Already gone.
        }
      }
    }
    this.files = [];
    if (this.pidfile) releasePidfile(this.pidfile, failed && this.pidfile.created);
    this.pidfile = null;
  }
}

function launchError(plan: StartPlan, result: Extract<LaunchResult, { ok: false }>): TinydError {
  const reason = result.errno ? strerror(result.errno) : "the launch process ended without a report";
  const details = { step: LaunchStep[result.step], errno: result.errno ? errnoName(result.errno) : undefined, command: plan.command[0] };
  switch (result.step) {
    case LaunchStep.Exec: {
      const notFound = result.errno === 2 || result.errno === 20;
      return new TinydError("E_EXEC", `cannot run '${plan.command[0]}': ${reason}`, notFound ? ExitCode.NOT_FOUND : ExitCode.NOT_EXECUTABLE, details);
    }
    case LaunchStep.Chdir:
      return new TinydError("E_CWD", `cannot change directory to ${plan.cwd}: ${reason}`, ExitCode.NO_INPUT, details);
    case LaunchStep.Pidfile:
      return new TinydError("E_PIDFILE", `cannot write pid to ${plan.pidfile}: ${reason}`, ExitCode.CANNOT_CREATE, details);
    case LaunchStep.Fork:
    case LaunchStep.ForkDaemon: {
      const temporary = errnoName(result.errno) === "EAGAIN";
      return new TinydError("E_LAUNCH", `cannot fork: ${reason}`, temporary ? ExitCode.TEMPORARY_FAILURE : ExitCode.OS_ERROR, details);
    }
    default:
      return new TinydError("E_LAUNCH", `launch failed at step ${LaunchStep[result.step]}: ${reason}`, ExitCode.OS_ERROR, details);
  }
}

/**
 * Starts `command` as a daemon and resolves once it has exec'd and its pid
 * is in the pidfile. Rejects with a TinydError, leaving no process and no
 * file behind, when any step fails.
 *
 * With `foreground`, the command replaces the calling process, so the promise
 * settles only on failure.
 */
export async function spawnDaemon(command: readonly string[], options: DaemonOptions = {}): Promise<StartedDaemon> {
  const plan = planStart(command, options);
  // Before any file of our own is open, so that none of them is mistaken for an inherited one.
  const keepFds = plan.closeFds ? [] : inheritedFds();
  const notifyFd = plan.readiness?.notifyFd ?? null;
  if (notifyFd !== null && keepFds.includes(notifyFd)) {
    throw usageError(`--notify-fd ${notifyFd} collides with inherited descriptor ${notifyFd}, which --no-close keeps: choose a free number`, { notifyFd });
  }
  const resources = new Resources();
  let readiness: StartReadiness | null = null;
  let failed = true;

  try {
    if (plan.pidfile !== null) resources.pidfile = acquirePidfile(plan.pidfile);
    const stdout = resources.open(plan.stdout);
    const stderr = resources.open(plan.stderr);

    const keepStdio = !plan.closeFds || plan.foreground;
    let devNull: number | null = null;
    if (!keepStdio) {
      devNull = openSync("/dev/null", fs.O_RDWR | constants.O_CLOEXEC);
      resources.files.push({ path: "/dev/null", fd: devNull, created: false });
    }
    if (plan.readiness) {
      // Loaded only when needed, to keep the plain start's imports lean.
      const { StartReadiness } = await import("./readiness/start");
      readiness = StartReadiness.prepare(plan.readiness, plan.stderr, keepStdio);
    }

    const result = await launch(
      {
        path: plan.path,
        argv: plan.command,
        env: readiness ? readiness.environment(plan.env) : plan.env,
        cwd: plan.cwd,
        umask: plan.umask,
        stdin: keepStdio ? null : devNull,
        stdout: stdout ?? (keepStdio ? null : devNull),
        stderr: stderr ?? readiness?.stderrFd ?? (keepStdio ? null : devNull),
        lockFd: resources.pidfile?.fd ?? null,
        closeFds: plan.closeFds,
        keepFds,
        resetSignals: plan.resetSignals,
        foreground: plan.foreground,
        notifyFd: readiness?.notifyFd ?? null,
      },
      plan.launch,
    );
    readiness?.launched();
    if (!result.ok) throw launchError(plan, result);

    if (readiness) {
      let ready;
      try {
        ready = await readiness.wait(result.pid, plan.command[0]!, resources.pidfile);
      } catch (error) {
        resources.keepOutputFiles();
        throw error;
      }
      failed = false;
      return { pid: ready.pid, pidfile: plan.pidfile, ready: true, status: ready.status };
    }

    failed = false;
    return { pid: result.pid, pidfile: plan.pidfile };
  } finally {
    readiness?.close();
    resources.release(failed);
  }
}
