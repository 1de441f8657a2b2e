/**
 * Process information from the system: whether a process is alive, when it
 * started and with which command line. On Linux it comes from /proc, and on
 * other platforms from ps(1).
 */
import { readdirSync, readFileSync, type Stats, statSync } from "node:fs";

export interface ProcessInfo {
  pid: number;
  /** The one-letter state from /proc/PID/stat or ps, such as S, R or Z. */
  state: string;
  /** The parent's pid; null where ps did not give it. */
  parentPid: number | null;
  startedAt: Date | null;
  command: string[] | null;
}

/** Clock ticks per second of /proc/PID/stat times; 100 on every Linux architecture Bun supports. */
const LINUX_CLOCK_TICKS = 100;

let bootTimeSeconds: number | undefined;

/**
 * Returns the boot time in seconds since the epoch. It comes from the
 * uptime, which has 10 ms steps, because btime in /proc/stat is rounded to
 * whole seconds and would put start times up to a second off.
 */
function linuxBootTime(): number {
  if (bootTimeSeconds === undefined) {
    const uptime = Number.parseFloat(readFileSync("/proc/uptime", "latin1"));
    bootTimeSeconds = Date.now() / 1000 - uptime;
  }
  return bootTimeSeconds;
}

function linuxProcessInfo(pid: number): ProcessInfo | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  // The command name in parentheses may itself contain spaces and ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0] ?? "?";
  const parentPid = Number(fields[1]);
  const startTicks = Number(fields[19]);
  const startedAt = Number.isFinite(startTicks) ? new Date((linuxBootTime() + startTicks / LINUX_CLOCK_TICKS) * 1000) : null;

  let command: string[] | null = null;
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    command = raw.length > 0 ? raw.replace(/\0$/, "").split("\0") : null;
  } catch {
    // The process may have just exited; the state above is still right.
  }
  return { pid, state, parentPid: Number.isInteger(parentPid) ? parentPid : null, startedAt, command };
}

function psProcessInfo(pid: number): ProcessInfo | null {
  const result = Bun.spawnSync(["ps", "-o", "state=,lstart=,command=", "-p", String(pid)], {
    stdin: "ignore",
    stderr: "ignore",
    env: { PATH: "/bin:/usr/bin", LC_ALL: "C" },
  });
  const line = result.stdout.toString().trim();
  if (result.exitCode !== 0 || line === "") return null;
  // lstart is five words: "Fri Dec  4 20:11:26 2026".
  const match = /^(\S+)\s+(\S+\s+\S+\s+\d+\s+[\d:]+\s+\d+)\s+(.*)$/.exec(line);
  if (!match) return { pid, state: line[0] ?? "?", parentPid: null, startedAt: null, command: null };
  const startedAt = new Date(match[2]!);
  return {
    pid,
    state: match[1]![0]!,
    parentPid: null,
    startedAt: Number.isNaN(startedAt.getTime()) ? null : startedAt,
    // NOTE: ps joins the arguments with spaces, so an argument that contains one is split.
    command: match[3]!.split(" "),
  };
}

/** Returns what is known of a process, or null when no process has that pid. */
export function processInfo(pid: number): ProcessInfo | null {
  return process.platform === "linux" ? linuxProcessInfo(pid) : psProcessInfo(pid);
}

/**
 * Tells whether the process `pid` has the file at `path` open, by reading
 * /proc/PID/fd. Returns null where that cannot be read: on other platforms,
 * or for another user's process without root.
 */
export function holdsOpen(pid: number, path: string): boolean | null {
  if (process.platform !== "linux") return null;
  let target: Stats;
  let names: string[];
  try {
    target = statSync(path);
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  for (const name of names) {
    try {
      const opened = statSync(`/proc/${pid}/fd/${name}`);
      if (opened.dev === target.dev && opened.ino === target.ino) return true;
    } catch {
      // Closed while we looked.
    }
  }
  return false;
}

/**
 * Tells whether a process runs. A zombie does not count: kill(pid, 0)
 * succeeds on one until its parent reaps it, which for orphans can take a
 * while under some init systems.
 */
export function isAlive(pid: number): boolean {
  const info = processInfo(pid);
  return info !== null && info.state !== "Z" && info.state !== "X";
}
