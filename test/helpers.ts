/**
 * Helpers for the end-to-end tests: run the compiled tinyd, read /proc, and
 * kill everything a test started, even when it fails.
 *
 * Every process a test starts through `tinyd()` carries TINYD_TEST_TAG in its
 * environment, unique to this test run, so cleanup finds leftover daemons by
 * that tag (and their process groups) without guessing from names.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..");
export const TINYD = join(ROOT, "build", "tinyd");
export const TAG = `tinyd-test-${process.pid}-${Date.now()}`;
export const IS_ROOT = process.getuid?.() === 0;

if (!existsSync(TINYD)) {
  throw new Error(`${TINYD} is missing: run 'npm run build' before 'bun test'`);
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  pid: number;
}

export interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** The launch method for this run: "native" or "fallback". */
  launch?: "native" | "fallback";
  /** Program and arguments that start tinyd, such as a wrapper that changes signal state. */
  prefix?: string[];
  stdin?: "ignore" | "pipe";
}

/** Runs the compiled tinyd and waits for it to exit. */
export async function tinyd(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const proc = Bun.spawn([...(options.prefix ?? []), TINYD, ...args], {
    cwd: options.cwd,
    env: {
      ...process.env,
      TINYD_TEST_TAG: TAG,
      ...(options.launch ? { TINYD_LAUNCH: options.launch } : {}),
      ...options.env,
    },
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr, pid: proc.pid };
}

const directories: string[] = [];

/** Creates a private temporary directory, removed after the test. */
export function tempDir(): string {
  const directory = mkdtempSync(join(tmpdir(), "tinyd-test-"));
  directories.push(directory);
  return directory;
}

/** Fields of /proc/PID/stat, named as in proc(5). */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  ttyNr: number;
}

export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  const close = text.lastIndexOf(")");
  const fields = text.slice(close + 2).split(" ");
  return {
    pid,
    comm: text.slice(text.indexOf("(") + 1, close),
    state: fields[0]!,
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
    ttyNr: Number(fields[4]),
  };
}

/** Lines of /proc/PID/status as a map, such as SigBlk → 0000000000000000. */
export function procStatus(pid: number): Map<string, string> {
  const lines = readFileSync(`/proc/${pid}/status`, "latin1").split("\n");
  return new Map(lines.filter((line) => line.includes(":")).map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()]));
}

/** Open descriptors of a process and what each points to. */
export function procFds(pid: number): Map<number, string> {
  const fds = new Map<number, string>();
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      fds.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // Closed while we listed it.
    }
  }
  return fds;
}

export function procEnviron(pid: number): Map<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, "utf8");
  return new Map(
    raw
      .split("\0")
      .filter((entry) => entry.includes("="))
      .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== null && stat.state !== "Z" && stat.state !== "X";
}

export function readPid(pidfile: string): number {
  const text = readFileSync(pidfile, "utf8");
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`pidfile ${pidfile} holds no pid: ${JSON.stringify(text)}`);
  return pid;
}

/** Polls until `condition` holds; throws with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** Pids of live processes whose environment carries this run's tag. */
export function taggedProcesses(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      if (readFileSync(`/proc/${pid}/environ`, "latin1").includes(`TINYD_TEST_TAG=${TAG}`) && alive(pid)) pids.push(pid);
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

/** Kills a process and, where it leads one, its process group. */
export function killTree(pid: number): void {
  const stat = procStat(pid);
  try {
    if (stat && stat.pgrp === pid) process.kill(-pid, "SIGKILL");
  } catch {
    // The group is gone.
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Kills every tagged process, by pid and process group. */
export function killTagged(): number[] {
  const pids = taggedProcesses();
  for (const pid of pids) killTree(pid);
  return pids;
}

/**
 * Kills every tagged process and removes the temporary directories. The
 * preload test/setup.ts runs it after each test of every file: an afterEach
 * at the top of this module would apply only to the first test file that
 * imports it (measured with Bun 1.4.5).
 */
export function cleanUpAfterTest(): void {
  killTagged();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
}

/** Holds a non-blocking lock probe: true when some process holds a lock on the file. */
export function isLocked(path: string): boolean {
  const result = Bun.spawnSync(["flock", "--nonblock", "--shared", path, "true"], { stderr: "ignore" });
  return result.exitCode !== 0;
}

/** Both launch methods, so each end-to-end test runs on both paths. */
export const LAUNCH_METHODS = ["native", "fallback"] as const;
