/**
 * Stopping what a failed start left behind: the daemon's process group,
 * which contains the daemon and every child it started that did not move to a
 * group of its own.
 */
import { readdirSync, readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { getpgid, kill, PosixError } from "./posix/libc";
import { isAlive } from "./proc";

/** How long the group gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 2000;
const STOP_POLL_MS = 20;

/** Returns the process group of `pid` (0: the caller), or null when the process is gone. */
export function processGroup(pid: number): number | null {
  try {
    return getpgid(pid);
  } catch {
    return null;
  }
}

/**
 * Tells whether any live process is in `group`. On Linux zombies do not
 * count, because an orphan's zombie may wait a while for init to reap it.
 * Elsewhere kill(-group, 0) decides, and a zombie does count.
 */
export function groupHasLiveMembers(group: number): boolean {
  if (process.platform !== "linux") {
    try {
      kill(-group, 0);
      return true;
    } catch (error) {
      return !(error instanceof PosixError && error.code === "ESRCH");
    }
  }
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "latin1");
    } catch {
      continue;
    }
    // Fields after the command name: state, ppid, pgrp.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === group && fields[0] !== "Z" && fields[0] !== "X") return true;
  }
  return false;
}

function sendSignal(target: number, signal: number): void {
  try {
    kill(target, signal);
  } catch (error) {
    if (!(error instanceof PosixError && error.code === "ESRCH")) throw error;
  }
}

async function waitUntil(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() >= deadline) return false;
    await Bun.sleep(STOP_POLL_MS);
  }
  return true;
}

/**
 * Sends SIGTERM to `pid` (when given and alive) and to every group that
 * still has live members, waits up to two seconds for them to exit, then
 * sends SIGKILL to what is left. The caller's own group is never signalled.
 * NOTE: a child that moved to a group or session of its own is not found.
 */
export async function terminateProcessGroups(pid: number | null, groups: readonly (number | null)[]): Promise<void> {
  const own = processGroup(0);
  const targets = [...new Set(groups)].filter((group): group is number => group !== null && group > 1 && group !== own);
  const running = () => (pid !== null && isAlive(pid)) || targets.some(groupHasLiveMembers);
  if (!running()) return;

  for (const signal of [osConstants.signals.SIGTERM, osConstants.signals.SIGKILL]) {
    if (pid !== null && isAlive(pid)) sendSignal(pid, signal);
    for (const group of targets) if (groupHasLiveMembers(group)) sendSignal(-group, signal);
    if (await waitUntil(() => !running(), STOP_GRACE_MS)) return;
  }
}
