/**
 * Finds, checks and stops the processes a benchmark run started, by reading
 * /proc. Linux only.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Fields of /proc/PID/stat that the benchmark uses. */
interface ProcessStat {
  state: string;
  parentPid: number;
}

function readStat(pid: number): ProcessStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }

  // The command name in brackets may contain spaces and ")", so the fields
  // are counted from the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const parentPid = Number(fields[1]);
  if (state === undefined || !Number.isInteger(parentPid)) return undefined;
  return { state, parentPid };
}

function listPids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** Returns true while pid names a process that has not exited. A zombie has exited. */
export function isRunning(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}

/** Returns the path of the executable that pid runs, or undefined when it cannot be read. */
export function executablePath(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/**
 * Returns the pids of the children of pid from /proc/PID/task/TID/children,
 * or undefined where the kernel has no such file (CONFIG_PROC_CHILDREN off).
 * It reads a few files, so it is much faster than a scan of all of /proc.
 */
function childPidsFromTasks(pid: number): number[] | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }

  const children: number[] = [];
  for (const task of tasks) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${task}/children`, "latin1");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" && isRunning(pid)) return undefined;
      continue;
    }
    for (const field of text.split(" ")) {
      if (field !== "") children.push(Number(field));
    }
  }
  return children;
}

/** Returns the pids of all running descendants of pid. */
export function descendantPids(pid: number): number[] {
  const fromTasks = childPidsFromTasks(pid);
  if (fromTasks !== undefined) {
    const descendants: number[] = [];
    for (const child of fromTasks) {
      if (!isRunning(child)) continue;
      descendants.push(child, ...descendantPids(child));
    }
    return descendants;
  }
  return descendantPidsByScan(pid);
}

function descendantPidsByScan(pid: number): number[] {
  const childrenByParent = new Map<number, number[]>();
  for (const candidate of listPids()) {
    const stat = readStat(candidate);
    if (stat === undefined || stat.state === "Z") continue;
    const siblings = childrenByParent.get(stat.parentPid) ?? [];
    siblings.push(candidate);
    childrenByParent.set(stat.parentPid, siblings);
  }

  const descendants: number[] = [];
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const child of childrenByParent.get(next) ?? []) {
      descendants.push(child);
      queue.push(child);
    }
  }
  return descendants;
}

/**
 * Returns true when pid, or one of its descendants, runs the executable at
 * path. A supervising launcher such as libslack daemon keeps its own pid in
 * the pidfile and runs the command as its child.
 */
export function treeRunsExecutable(pid: number, path: string): boolean {
  if (executablePath(pid) === path) return true;
  return descendantPids(pid).some((descendant) => executablePath(descendant) === path);
}

/**
 * Returns the pids of the running processes whose environment contains the
 * exact entry KEY=VALUE, leaving out the calling process. Processes whose
 * environment cannot be read (another user's, without root) are skipped.
 */
export function pidsWithEnvironmentEntry(entry: string): number[] {
  const matches: number[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    let environment: string;
    try {
      environment = readFileSync(`/proc/${pid}/environ`, "latin1");
    } catch {
      continue;
    }
    if (environment.split("\0").includes(entry) && isRunning(pid)) matches.push(pid);
  }
  return matches;
}

/** Returns the pid on the first line of the pidfile at path, or undefined when there is none. */
export function readPidfile(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const firstLine = text.split("\n", 1)[0]?.trim() ?? "";
  return /^[1-9]\d*$/.test(firstLine) ? Number(firstLine) : undefined;
}

/**
 * Polls check every pollMs milliseconds until it returns a value other than
 * undefined or timeoutMs have passed. Blocks the thread while it polls.
 */
export function pollSync<T>(check: () => T | undefined, timeoutMs: number, pollMs = 2): T | undefined {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined || performance.now() >= deadline) return value;
    Bun.sleepSync(pollMs);
  }
}

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    // ESRCH: the process exited between the check and the signal.
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/**
 * Stops each process in pids: SIGTERM, then SIGKILL to those still running
 * after graceMs. Returns the pids that were still running after that, which
 * should be none.
 */
export function stopProcesses(pids: Iterable<number>, graceMs = 2000): number[] {
  const targets = [...new Set(pids)].filter(isRunning);
  for (const pid of targets) sendSignal(pid, "SIGTERM");

  const allStopped = () => (targets.some(isRunning) ? undefined : true);
  if (pollSync(allStopped, graceMs, 5)) return [];

  for (const pid of targets.filter(isRunning)) sendSignal(pid, "SIGKILL");
  pollSync(allStopped, 2000, 5);
  return targets.filter(isRunning);
}
