/**
 * The supervisor's state file, next to each of its pidfiles as PIDFILE.state.
 *
 * The supervisor rewrites it atomically (write to a temporary name, then
 * rename) at every change, so `tinyd status` and `tinyd stop` read a whole
 * state without talking to the supervisor. It is trusted only while the
 * pidfile beside it is locked: a start that takes over a stale pidfile
 * removes the stale state file first.
 */
import { closeSync, constants as fs, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { constants } from "../posix/constants";

export interface SupervisorState {
  supervisorPid: number;
  supervisorStartedAt: string;
  childPid: number | null;
  /** When the current child started; null between children. */
  childStartedAt: string | null;
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  /**
   * "running", "restarting" (waiting out a delay), "stopping", or "ended":
   * the restart policy gave up. An ended state stays beside the removed
   * pidfiles, so that status can report the reason, until the next start
   * removes it.
   */
  phase: "running" | "restarting" | "stopping" | "ended";
  /** With phase "ended": why the policy gave up. */
  endReason?: string;
  /** Whether the current child reported ready; null when no readiness was asked for. */
  ready: boolean | null;
  command: string[];
  childPidfile: string | null;
  supervisorPidfile: string | null;
  /** The supervisor's --stop-timeout, so that `tinyd stop` waits long enough by default. */
  stopTimeoutMs: number;
}

const STATE_MODE = 0o644;

export function statePath(pidfile: string): string {
  return `${pidfile}.state`;
}

/** Writes the state next to each pidfile, atomically. */
export function writeState(pidfiles: readonly string[], state: SupervisorState): void {
  const text = `${JSON.stringify(state)}\n`;
  for (const pidfile of pidfiles) {
    const path = statePath(pidfile);
    const temporary = `${path}.${process.pid}.tmp`;
    const fd = openSync(temporary, fs.O_WRONLY | fs.O_CREAT | fs.O_TRUNC | fs.O_NOFOLLOW | constants.O_CLOEXEC, STATE_MODE);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  }
}

export function removeState(pidfile: string): void {
  try {
    unlinkSync(statePath(pidfile));
  } catch {
    // Not there: nothing to remove.
  }
}

/** Reads the state file beside a pidfile, or returns null when there is none or it is not valid. */
export function readState(pidfile: string): SupervisorState | null {
  let text: string;
  try {
    const fd = openSync(statePath(pidfile), fs.O_RDONLY | fs.O_NOFOLLOW | constants.O_CLOEXEC);
    try {
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  try {
    const state = JSON.parse(text) as SupervisorState;
    return Number.isInteger(state.supervisorPid) && state.supervisorPid > 0 ? state : null;
  } catch {
    return null;
  }
}
