/**
 * Status, stop and signals for a daemon known by its pidfile.
 *
 * A pid is signalled only while its pidfile is locked, so a pid from a stale
 * file, which the system may since have given to an unrelated process, is
 * never touched.
 */
import { ExitCode, TinydError } from "./errors";
import { type PidfileState, readPidfile, removeStalePidfile } from "./pidfile";
import { getpgid, getsid, kill, PosixError } from "./posix/libc";
import { holdsOpen, isAlive, processInfo } from "./proc";
import { parseSignal, signalName } from "./signals";
import { readState, removeState, type SupervisorState } from "./supervisor/state";

/** LSB init-script status codes, which `tinyd status` exits with. */
export const StatusCode = {
  RUNNING: 0,
  DEAD_WITH_PIDFILE: 1,
  NOT_RUNNING: 3,
  UNKNOWN: 4,
} as const;

export type DaemonState = "running" | "starting" | "restarting" | "dead" | "stopped" | "unknown";

/** The supervisor's part of a status report. */
export interface SupervisorStatus {
  pid: number;
  childPid: number | null;
  restarts: number;
  lastExit: SupervisorState["lastExit"];
  /** Seconds the current child has been up; null between children. */
  uptimeSeconds: number | null;
  startedAt: string;
  /** Whether the current child reported ready; null when no readiness was asked for. */
  ready: boolean | null;
}

export interface DaemonStatus {
  state: DaemonState;
  /** LSB status code for the state. */
  code: number;
  pid: number | null;
  pidfile: string;
  startedAt: string | null;
  command: string[] | null;
  /** The reason the state is unknown. */
  error?: string;
  /** Present when a tinyd supervisor runs the service, or ran it until its restart policy gave up. */
  supervisor?: SupervisorStatus;
  /** The reason the supervisor's restart policy ended the service, when it did. */
  endReason?: string | null;
}

/**
 * Returns the supervisor's state for a locked pidfile, or null when no live
 * supervisor runs it. A start removes stale state files when it takes over a
 * pidfile, so a state file beside a locked pidfile is current.
 */
function supervisorOf(pidfile: string, state: PidfileState): SupervisorState | null {
  if (!state.locked) return null;
  const supervisor = readState(pidfile);
  if (supervisor === null || !isAlive(supervisor.supervisorPid)) return null;
  return supervisor;
}

function supervisorStatus(supervisor: SupervisorState): SupervisorStatus {
  const started = supervisor.childStartedAt === null ? null : Date.parse(supervisor.childStartedAt);
  return {
    pid: supervisor.supervisorPid,
    childPid: supervisor.childPid,
    restarts: supervisor.restarts,
    lastExit: supervisor.lastExit,
    uptimeSeconds: started === null ? null : Math.max(0, Math.round((Date.now() - started) / 1000)),
    startedAt: supervisor.supervisorStartedAt,
    ready: supervisor.ready ?? null,
  };
}

export function daemonStatus(pidfile: string): DaemonStatus {
  const base = { pidfile, pid: null, startedAt: null, command: null };
  let state;
  try {
    state = readPidfile(pidfile);
  } catch (error) {
    return { ...base, state: "unknown", code: StatusCode.UNKNOWN, error: (error as Error).message };
  }
  if (!state.exists) {
    // A supervisor whose policy gave up leaves its state behind, with the reason.
    const ended = readState(pidfile);
    if (ended?.phase === "ended" && !isAlive(ended.supervisorPid)) {
      return { ...base, state: "stopped", code: StatusCode.NOT_RUNNING, command: ended.command, supervisor: supervisorStatus(ended), endReason: ended.endReason ?? null };
    }
    return { ...base, state: "stopped", code: StatusCode.NOT_RUNNING };
  }
  if (!state.locked) return { ...base, pid: state.pid, state: "dead", code: StatusCode.DEAD_WITH_PIDFILE };

  const supervisor = supervisorOf(pidfile, state);
  if (supervisor && state.pid === null) {
    return { ...base, state: supervisor.phase === "restarting" ? "restarting" : "starting", code: StatusCode.RUNNING, command: supervisor.command, supervisor: supervisorStatus(supervisor) };
  }
  if (state.malformed) {
    return { ...base, state: "unknown", code: StatusCode.UNKNOWN, error: `${pidfile} is locked but does not contain a pid` };
  }
  // Locked but empty: a launcher holds the lock and the daemon has not written its pid yet.
  if (state.pid === null) return { ...base, state: "starting", code: StatusCode.RUNNING };

  // The lock shows that some process holds the file, not that it is the pid written in it.
  const holder = supervisor ? supervisor.supervisorPid : state.pid;
  const info = processInfo(state.pid);
  const foreignChild = supervisor !== null && state.pid !== supervisor.supervisorPid && info?.parentPid !== supervisor.supervisorPid;
  if (info === null || info.state === "Z" || foreignChild || holdsOpen(holder, pidfile) === false) {
    return {
      ...base,
      pid: state.pid,
      state: "unknown",
      code: StatusCode.UNKNOWN,
      error: `${pidfile} is locked, but pid ${state.pid} in it is ${info === null || info.state === "Z" ? "not running" : "not the process that holds it"}; a process that the daemon started may hold the lock`,
    };
  }
  return {
    ...base,
    state: "running",
    code: StatusCode.RUNNING,
    pid: state.pid,
    startedAt: info?.startedAt?.toISOString() ?? null,
    command: info?.command ?? null,
    ...(supervisor ? { supervisor: supervisorStatus(supervisor) } : {}),
  };
}

/** Returns the pid of a daemon whose pidfile is locked now, or null when none runs. */
function lockedPid(pidfile: string): number | null {
  const state = readPidfile(pidfile);
  if (!state.locked || state.pid === null) return null;
  return state.pid;
}

function sendSignal(pid: number, signal: number, pidfile: string): void {
  try {
    kill(pid, signal);
  } catch (error) {
    if (error instanceof PosixError && error.code === "ESRCH") return;
    const reason = error instanceof PosixError ? error.message.replace(/^kill: /, "") : String(error);
    throw new TinydError("E_SIGNAL", `cannot send ${signalName(signal)} to pid ${pid} (${pidfile}): ${reason}`, ExitCode.NO_PERMISSION, {
      pid,
      pidfile,
      signal,
    });
  }
}

/**
 * Sends a signal to the daemon of a locked pidfile. Throws E_NOT_RUNNING when
 * the pidfile is missing or not locked.
 */
export function signalDaemon(pidfile: string, signal: string | number): { pid: number; signal: number } {
  const number = parseSignal(signal);
  const state = readPidfile(pidfile);
  if (!state.locked) {
    throw new TinydError("E_NOT_RUNNING", `not running: ${pidfile} is missing or not locked, so no signal was sent`, StatusCode.NOT_RUNNING, { pidfile });
  }

  // A supervised service gets every signal through its supervisor, which
  // passes HUP (without -H), USR1, USR2 and WINCH on to the child and stops
  // the service on TERM and INT, so that a stopped child is not restarted.
  // This applies between two children too, when the child's pidfile is empty.
  const supervisor = supervisorOf(pidfile, state);
  if (!supervisor && state.pid === null) throw namesNoPid(pidfile, "signal");
  const target = supervisor ? supervisor.supervisorPid : state.pid!;
  verifyHolder(target, pidfile);
  sendSignal(target, number, pidfile);
  return { pid: target, signal: number };
}

function namesNoPid(pidfile: string, action: string): TinydError {
  return new TinydError(
    "E_PIDFILE",
    `${pidfile} is locked but names no pid, so tinyd cannot tell which process to ${action}. Find the holder with 'fuser ${pidfile}'`,
    StatusCode.UNKNOWN,
    { pidfile },
  );
}

function notTheDaemon(pid: number, pidfile: string): TinydError {
  if (!isAlive(pid)) {
    return new TinydError(
      "E_PIDFILE",
      `${pidfile} is locked, but pid ${pid} in it has exited; a process that it started holds the lock. Find it with 'fuser ${pidfile}'`,
      StatusCode.UNKNOWN,
      { pidfile, pid },
    );
  }
  return new TinydError(
    "E_PIDFILE",
    `${pidfile} is locked, but pid ${pid} in it is not the process that holds it, so no signal was sent. Check who can write to the pidfile's directory`,
    StatusCode.UNKNOWN,
    { pidfile, pid },
  );
}

/**
 * Throws unless `holder` has the pidfile open. A daemon inherits its locked
 * pidfile, so a pid that does not hold it was written there by someone else.
 * Where /proc cannot tell, the lock alone is trusted.
 */
function verifyHolder(holder: number, pidfile: string): void {
  if (holdsOpen(holder, pidfile) === false) throw notTheDaemon(holder, pidfile);
}

export interface StopOptions {
  /** Signal to send first. Default: SIGTERM. */
  signal?: string | number;
  /** Seconds to wait for the lock to be released. Default: 10. */
  timeout?: number;
  /** After the timeout, send SIGKILL and wait again for as long. */
  kill?: boolean;
}

export interface StopResult {
  /** False when nothing ran. */
  wasRunning: boolean;
  stopped: boolean;
  pid: number | null;
  /** True when SIGKILL was needed. */
  killed: boolean;
  /** True when `pid` is the supervisor of a supervised service. */
  supervised?: boolean;
}

export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;
const STOP_POLL_MS = 20;

/** How long stop waits, after the daemon exited, for its lock to be released before it removes the pidfile. */
const LOCK_RELEASE_GRACE_SECONDS = 1;

/** How long stop waits for a launcher that holds the lock to write the pid. */
const PID_WRITE_WAIT_MS = 1000;

/** Waits briefly for a pid in a pidfile that is locked but still empty, as during a start. */
async function pidOnceWritten(pidfile: string): Promise<number | null> {
  const deadline = performance.now() + PID_WRITE_WAIT_MS;
  while (performance.now() < deadline) {
    await Bun.sleep(STOP_POLL_MS);
    const state = readPidfile(pidfile);
    if (!state.locked) return null;
    if (state.pid !== null) return state.pid;
  }
  return null;
}

/**
 * Returns the process group of a daemon when it is one of tinyd's making:
 * the detach's setsid() gives the daemon a session whose one group has the
 * session's id. Null otherwise, and for this process's own group.
 */
function processGroupOf(pid: number): number | null {
  let group: number;
  let session: number;
  try {
    group = getpgid(pid);
    session = getsid(pid);
  } catch {
    return null;
  }
  if (group <= 1 || group !== session || group === getpgid(0)) return null;
  return group;
}

function waitUntilReleased(pidfile: string, pid: number, seconds: number): Promise<boolean> {
  // The lock goes when the daemon exits, even while it lingers as a zombie.
  return waitFor(() => lockedPid(pidfile) !== pid || !isAlive(pid), seconds);
}

/**
 * Stops the daemon of a locked pidfile: sends the signal, waits until the
 * lock is released, and with `kill` sends SIGKILL after the timeout.
 */
export async function stopDaemon(pidfile: string, options: StopOptions = {}): Promise<StopResult> {
  const signal = parseSignal(options.signal ?? "TERM");
  const timeout = options.timeout ?? DEFAULT_STOP_TIMEOUT_SECONDS;
  if (options.timeout !== undefined && (!Number.isFinite(timeout) || timeout < 0)) {
    throw new TinydError("E_USAGE", `invalid timeout '${options.timeout}': expected a number of seconds, 0 or more`, ExitCode.USAGE);
  }

  const state = readPidfile(pidfile);
  const supervisor = supervisorOf(pidfile, state);
  if (supervisor) return stopSupervised(pidfile, supervisor, signal, options);

  if (!state.locked) {
    // A stale pidfile is removed too, so that status then reports "not running" rather than "dead".
    if (state.exists && state.pid !== null) removeStalePidfile(pidfile, state.pid);
    return { wasRunning: false, stopped: true, pid: null, killed: false };
  }
  const pid = state.pid ?? (await pidOnceWritten(pidfile));
  if (pid === null && !readPidfile(pidfile).locked) return { wasRunning: false, stopped: true, pid: null, killed: false };
  if (pid === null) throw namesNoPid(pidfile, "stop");

  verifyHolder(pid, pidfile);
  // The daemon's process group, the one of its session, which contains the processes it started.
  const group = processGroupOf(pid);
  sendSignal(pid, signal, pidfile);
  if (await waitUntilReleased(pidfile, pid, timeout)) {
    // A daemon with threads can show as exited before its last thread has
    // released the lock: give that a moment, since only a free file is removed.
    await waitFor(() => !readPidfile(pidfile).locked, LOCK_RELEASE_GRACE_SECONDS);
    removeStalePidfile(pidfile, pid);
    return { wasRunning: true, stopped: true, pid, killed: false };
  }
  if (!options.kill) return { wasRunning: true, stopped: false, pid, killed: false };

  // Recheck the lock right before SIGKILL: the pid must still be the daemon's.
  // SIGKILL goes to the daemon's whole process group, so that no process it
  // started keeps the pidfile locked.
  if (lockedPid(pidfile) === pid) {
    sendSignal(pid, parseSignal("KILL"), pidfile);
    if (group !== null) sendSignal(-group, parseSignal("KILL"), pidfile);
  }
  const stopped = await waitFor(() => !readPidfile(pidfile).locked, timeout);
  if (stopped) removeStalePidfile(pidfile, pid);
  return { wasRunning: true, stopped, pid, killed: true };
}

/** Seconds beyond the supervisor's own stop timeout that stop waits by default. */
const SUPERVISED_STOP_MARGIN_SECONDS = 5;

/**
 * Stops a supervised service through its supervisor, so that the child is not
 * restarted: the supervisor stops the child's process group, removes its
 * pidfiles and exits.
 */
async function stopSupervised(pidfile: string, supervisor: SupervisorState, signal: number, options: StopOptions): Promise<StopResult> {
  const pid = supervisor.supervisorPid;
  const timeout = options.timeout ?? Math.max(DEFAULT_STOP_TIMEOUT_SECONDS, supervisor.stopTimeoutMs / 1000 + SUPERVISED_STOP_MARGIN_SECONDS);
  const gone = () => !readPidfile(pidfile).locked || !isAlive(pid);

  verifyHolder(pid, pidfile);
  sendSignal(pid, signal, pidfile);
  if (await waitFor(gone, timeout)) return { wasRunning: true, stopped: true, pid, killed: false, supervised: true };
  if (!options.kill) return { wasRunning: true, stopped: false, pid, killed: false, supervised: true };

  // The supervisor first, so that it cannot start another child, then the
  // child's process group, so that nothing the child started runs on.
  const child = readState(pidfile)?.childPid ?? null;
  if (isAlive(pid)) sendSignal(pid, parseSignal("KILL"), pidfile);
  // Even when the child itself is gone, because Linux kills it with its
  // supervisor, its group may live on. A group without members gives ESRCH, which is ignored.
  if (child !== null) sendSignal(-child, parseSignal("KILL"), pidfile);
  // A killed supervisor shows as a zombie before all its threads have exited
  // and released its locks, so the wait is for the locks themselves.
  const released = () => [supervisor.supervisorPidfile, supervisor.childPidfile].every((file) => file === null || !readPidfile(file).locked);
  const stopped = await waitFor(() => gone() && released() && (child === null || !isAlive(child)), timeout);
  // A supervisor killed with SIGKILL could not remove its pidfiles and state files.
  if (stopped) removeServiceFiles(supervisor);
  return { wasRunning: true, stopped, pid, killed: true, supervised: true };
}

/**
 * Removes the pidfiles and state files of a supervised service whose
 * supervisor is gone. A file that is locked again, or names a live process,
 * belongs to a new start and stays.
 */
function removeServiceFiles(supervisor: SupervisorState): void {
  for (const pidfile of [supervisor.supervisorPidfile, supervisor.childPidfile]) {
    if (pidfile === null) continue;
    const named = readPidfile(pidfile);
    if (named.locked || (named.pid !== null && isAlive(named.pid))) continue;
    if (named.exists && !removeStalePidfile(pidfile, named.pid ?? 0)) continue;
    removeState(pidfile);
  }
}

async function waitFor(condition: () => boolean, seconds: number): Promise<boolean> {
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    if (condition()) return true;
    if (performance.now() >= deadline) return false;
    await Bun.sleep(STOP_POLL_MS);
  }
}
