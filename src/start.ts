/**
 * Starting a daemon: validate, lock the pidfile, open the output files, launch,
 * and undo every side effect when a step fails.
 */
import { closeSync, existsSync, constants as fs, openSync, readSync } from "node:fs";
import { ExitCode, TinydError, usageError } from "./errors";
import { launch, LaunchStep } from "./launch";
import type { LaunchResult } from "./launch";
import { type DaemonOptions, planStart, type StartPlan } from "./options";
import { acquirePidfile } from "./pidfile";
import { StartResources } from "./start-resources";
import { planSupervisor, type SupervisionOptions, supervisionOptionsOf, supervisionRequested } from "./supervisor/config";
import { removeState } from "./supervisor/state";
import { constants } from "./posix/constants";
import { errnoName, strerror } from "./posix/libc";
import { inheritedFds } from "./inherited-fds";
import { chownCreatedFiles, privilegeLaunchError } from "./privileges";
import type { StartReadiness } from "./readiness/start";

export interface StartedDaemon {
  /** The daemon's pid; under a supervisor, the first child's. */
  pid: number;
  pidfile: string | null;
  /** The supervisor's pid, when a supervision option was given. */
  supervisorPid?: number;
  /** With `waitReady`: true, since the start resolves only once the daemon is ready. */
  ready?: boolean;
  /** With `waitReady`: the last STATUS= the daemon sent before it was ready, if any. */
  status?: string | null;
}

/**
 * Returns the interpreter named by a script's #! line when the script exists
 * but the interpreter does not, which execve(2) reports as ENOENT of the
 * script itself. Null otherwise.
 */
/** ENOEXEC, the same on Linux, macOS and FreeBSD: not a binary, and no #! line. */
const ENOEXEC = 8;

/** Tells whether a file is neither an ELF or Mach-O binary nor starts with #!: a script without its #! line. */
function looksLikeScript(path: string): boolean {
  let head: Buffer;
  try {
    const fd = openSync(path, fs.O_RDONLY | constants.O_CLOEXEC);
    try {
      head = Buffer.alloc(4);
      head = head.subarray(0, readSync(fd, head, 0, 4, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
  const binary = [Buffer.from("\x7fELF", "latin1"), Buffer.from([0xcf, 0xfa, 0xed, 0xfe]), Buffer.from([0xca, 0xfe, 0xba, 0xbe])];
  return !head.subarray(0, 2).equals(Buffer.from("#!")) && !binary.some((magic) => head.equals(magic));
}

export function missingInterpreter(path: string): string | null {
  let firstLine: string;
  try {
    const fd = openSync(path, fs.O_RDONLY | constants.O_CLOEXEC);
    try {
      const buffer = Buffer.alloc(256);
      firstLine = buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0)).toString("latin1").split("\n")[0]!;
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  const match = /^#!\s*(\S+)/.exec(firstLine);
  if (!match || existsSync(match[1]!)) return null;
  return match[1]!;
}

function launchError(plan: StartPlan, result: Extract<LaunchResult, { ok: false }>): TinydError {
  const privilegeError = privilegeLaunchError(plan, result);
  if (privilegeError) return privilegeError;
  const reason = result.errno ? strerror(result.errno) : "the launch process ended without a report";
  const details = { step: LaunchStep[result.step], errno: result.errno ? errnoName(result.errno) : undefined, command: plan.command[0] };
  switch (result.step) {
    case LaunchStep.Exec: {
      const notFound = result.errno === 2 || result.errno === 20;
      const interpreter = notFound ? missingInterpreter(plan.path) : null;
      let why = interpreter === null ? reason : `its interpreter ${interpreter} (from the #! line) was not found`;
      if (result.errno === ENOEXEC && looksLikeScript(plan.path)) why = `${reason}; a script needs a #! line, such as #!/bin/sh`;
      return new TinydError("E_EXEC", `cannot run '${plan.command[0]}': ${why}`, notFound ? ExitCode.NOT_FOUND : ExitCode.NOT_EXECUTABLE, details);
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
 * Any supervision option (restart, supervisorPidfile, syslog and the rest)
 * runs the command under a tinyd supervisor instead. The promise then
 * resolves once the first child has exec'd.
 *
 * With `foreground`, the command replaces the calling process, so the promise
 * settles only on failure.
 */
export async function spawnDaemon(command: readonly string[], options: DaemonOptions & SupervisionOptions = {}): Promise<StartedDaemon> {
  const plan = planStart(command, options);
  if (supervisionRequested(supervisionOptionsOf(options))) {
    const { spawnSupervised } = await import("./supervisor/start");
    const service = await spawnSupervised(plan, planSupervisor(plan, supervisionOptionsOf(options)));
    return { pid: service.pid, pidfile: service.pidfile, supervisorPid: service.supervisorPid };
  }

  // Before any file of our own is open, so that none of them is mistaken for an inherited one.
  const keepFds = plan.closeFds ? [] : inheritedFds();
  const notifyFd = plan.readiness?.notifyFd ?? null;
  if (notifyFd !== null && keepFds.includes(notifyFd)) {
    throw usageError(`--notify-fd ${notifyFd} collides with inherited descriptor ${notifyFd}, which --no-close keeps: choose a free number`, { notifyFd });
  }
  const resources = new StartResources();
  let readiness: StartReadiness | null = null;
  let failed = true;

  try {
    if (plan.pidfile !== null) {
      resources.pidfile = acquirePidfile(plan.pidfile);
      // A supervisor that held this pidfile before is gone, and so is the truth of its state file.
      removeState(plan.pidfile);
    }
    const stdout = resources.open(plan.stdout);
    const stderr = resources.open(plan.stderr);
    chownCreatedFiles(resources.files, plan.runAs);

    const keepStdio = !plan.closeFds || plan.foreground;
    let devNull: number | null = null;
    if (!keepStdio) {
      devNull = openSync("/dev/null", fs.O_RDWR | constants.O_CLOEXEC);
      resources.files.push({ path: "/dev/null", fd: devNull, created: false });
    }
    if (plan.readiness) {
      // Loaded only when needed, to keep the plain start's imports lean.
      const { StartReadiness } = await import("./readiness/start");
      const { socketOwner } = await import("./readiness/start");
      readiness = StartReadiness.prepare(plan.readiness, plan.stderr, keepStdio, socketOwner(plan.runAs?.credentials ?? null));
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
        pidWriteFd: resources.pidfile?.writeFd ?? null,
        closeFds: plan.closeFds,
        keepFds,
        resetSignals: plan.resetSignals,
        foreground: plan.foreground,
        credentials: plan.runAs?.credentials ?? null,
        chroot: plan.chroot,
        nice: plan.nice,
        limits: plan.limits,
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
