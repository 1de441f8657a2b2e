/**
 * Starting and reaping the supervised child.
 *
 * With the native launch the child is forked from compiled C into a process
 * group of its own, with the parent-death signal on Linux, and reaped with
 * waitpid(2) on SIGCHLD. Without a compiler it is started with Bun.spawn
 * (`detached`, so it leads a new session and process group) and reaped by Bun.
 */
import { closeSync, constants as fs, openSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { launchNative } from "../launch/native";
import { LaunchStep } from "../launch/request";
import { constants } from "../posix/constants";
import { type ExitStatus, pipe, reapChild, strerror, unblockAllSignals } from "../posix/libc";
import type { ReadinessListener } from "../readiness/listener";
import { missingInterpreter } from "../start";
import { withReadinessEnvironment } from "../readiness/start";
import type { SupervisorConfig } from "./config";

export interface Child {
  pid: number;
  startedAt: Date;
  /** Read ends of the child's stdout and stderr pipes, or null when its output is discarded. */
  stdout: number | null;
  stderr: number | null;
  exited: Promise<ExitStatus>;
}

/** Children started natively, waiting for their SIGCHLD. */
const waiting = new Map<number, (status: ExitStatus) => void>();
let handlerInstalled = false;

/** Reaps every natively started child that has ended. SIGCHLD calls it, and so does a periodic check. */
export function reapWaiting(): void {
  for (const [pid, resolve] of waiting) {
    let status: ExitStatus | null;
    try {
      status = reapChild(pid);
    } catch {
      // ECHILD: someone else reaped it, so its status is lost.
      status = { code: null, signal: null };
    }
    if (status) {
      waiting.delete(pid);
      resolve(status);
    }
  }
}

function installChildHandler(): void {
  if (handlerInstalled) return;
  handlerInstalled = true;
  process.on("SIGCHLD", reapWaiting);
}

export class ChildStartError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function envObject(entries: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf("=");
    env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return env;
}

/**
 * Starts the child. `capture` gives it pipes for stdout and stderr; otherwise
 * its stdio is /dev/null. Throws ChildStartError when it cannot be started.
 */
export async function startChild(
  config: SupervisorConfig,
  capture: boolean,
  native: boolean,
  readiness: ReadinessListener | null = null,
): Promise<Child> {
  const env = readiness ? withReadinessEnvironment(config.env, readiness) : config.env;
  const notifyFd = readiness?.inheritedFd ?? null;
  const devNull = openSync("/dev/null", fs.O_RDWR | constants.O_CLOEXEC);
  const out = capture ? pipe() : null;
  const err = capture ? pipe() : null;
  const closeWriteEnds = () => {
    closeSync(devNull);
    if (out) closeSync(out[1]);
    if (err) closeSync(err[1]);
  };

  if (native) {
    installChildHandler();
    let result;
    try {
      result = launchNative({
        path: config.path,
        argv: config.command,
        env,
        cwd: config.cwd,
        umask: config.umask,
        stdin: devNull,
        stdout: out ? out[1] : devNull,
        stderr: err ? err[1] : devNull,
        lockFd: null,
        closeFds: true,
        keepFds: [],
        resetSignals: true,
        foreground: false,
        supervisedChild: true,
        credentials: config.credentials,
        chroot: config.chroot,
        nice: config.nice,
        limits: config.limits,
        notifyFd,
      });
    } finally {
      closeWriteEnds();
      readiness?.launched();
    }
    if (!result.ok) {
      if (out) closeSync(out[0]);
      if (err) closeSync(err[0]);
      let reason = result.errno ? strerror(result.errno) : "it ended without a report";
      const interpreter = result.step === LaunchStep.Exec && result.errno === 2 ? missingInterpreter(config.path) : null;
      if (interpreter !== null) reason = `its interpreter ${interpreter} (from the #! line) was not found`;
      let code = 71;
      if (result.step === LaunchStep.Exec) code = result.errno === 2 || result.errno === 20 ? 127 : 126;
      throw new ChildStartError(`cannot start '${config.command[0]}': ${reason}`, code);
    }
    const pid = result.pid;
    const exited = new Promise<ExitStatus>((resolve) => waiting.set(pid, resolve));
    // It may have ended before its pid was in the table.
    reapWaiting();
    return { pid, startedAt: new Date(), stdout: out?.[0] ?? null, stderr: err?.[0] ?? null, exited };
  }

  if (config.credentials !== null || config.chroot !== null || config.nice !== null || config.limits.length > 0) {
    // NOTE: Bun.spawn cannot set supplementary groups, a root or limits for
    // one child alone, so the supervisor rejects them without the compiler.
    throw new ChildStartError("-u, --group, --chroot, --nice and --limit under a supervisor need the native launch (bun:ffi's compiler)", 64);
  }
  // Bun.spawn passes the signal mask on, so the child's must be empty here.
  unblockAllSignals();
  const stdio: (number | "ignore")[] = [devNull, out ? out[1] : devNull, err ? err[1] : devNull];
  if (notifyFd) {
    while (stdio.length < notifyFd.target) stdio.push("ignore");
    stdio[notifyFd.target] = notifyFd.source;
  }
  let proc: Bun.Subprocess;
  try {
    proc = Bun.spawn([config.path, ...config.command.slice(1)], {
      argv0: config.command[0],
      cwd: config.cwd ?? process.cwd(),
      env: envObject(env),
      stdio: stdio as never,
      detached: true,
    });
  } catch (error) {
    closeWriteEnds();
    readiness?.launched();
    if (out) closeSync(out[0]);
    if (err) closeSync(err[0]);
    const code = (error as NodeJS.ErrnoException).code === "ENOENT" ? 127 : 126;
    throw new ChildStartError(`cannot start '${config.command[0]}': ${(error as Error).message}`, code);
  }
  closeWriteEnds();
  readiness?.launched();
  const exited = proc.exited.then(() => ({
    code: proc.signalCode ? null : proc.exitCode,
    signal: proc.signalCode ? ((osConstants.signals as Record<string, number>)[proc.signalCode] ?? null) : null,
  }));
  return { pid: proc.pid, startedAt: new Date(), stdout: out?.[0] ?? null, stderr: err?.[0] ?? null, exited };
}
