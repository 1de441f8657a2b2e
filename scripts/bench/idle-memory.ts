/**
 * Idle memory: each supervisor runs `sleep 600` for a few seconds, then the
 * benchmark reads the memory of the supervising process and of its child
 * from /proc/PID/smaps_rollup and /proc/PID/smaps, and the CPU time the
 * supervising process used while it waited. A compiled Bun program that
 * only waits shows the floor of any process built like tinyd. Linux only.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchSession, Stoppable } from "./bench-session.ts";
import { descendantPids, executablePath, pollSync, stopProcesses } from "./processes.ts";
import { formatCommand, type MissingSupervisor, type ServiceRequest, type Supervisor } from "./supervisors.ts";
import { compileFloor } from "./tools.ts";

/** Memory of one process, in KiB, and its CPU time over the idle window. */
export interface MemorySample {
  rssKiB: number;
  anonymousKiB: number;
  /** Rss − Anonymous: pages of files mapped into the process, and of shared memory. */
  fileKiB: number;
  /** The part of fileKiB that belongs to the process's own executable. */
  executableKiB: number;
  pssKiB: number;
  pssFileKiB: number;
  pssShmemKiB: number;
  threads: number;
  /** CPU time of all threads over the idle window, or undefined without /proc/PID/task/TID/schedstat. */
  cpuMs: number | undefined;
}

export interface MemoryRow {
  label: string;
  version: string;
  /** The measured process: the supervising one, its child, or the Bun floor program. */
  process: string;
  sample?: MemorySample;
  failure?: string;
}

export interface MemoryResult {
  idleSeconds: number;
  rows: MemoryRow[];
  /** The command of each row, as the report shows it. */
  commands: string[];
  missing: MissingSupervisor[];
  problems: string[];
}

/** How long after the start the supervisor may take to run its child. */
const CHILD_TIMEOUT_MS = 5_000;

/** Reads the "Key:   value kB" lines of /proc/PID/smaps_rollup. */
function readSmapsRollup(pid: number): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, "latin1").split("\n")) {
    const match = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (match) fields.set(match[1]!, Number(match[2]));
  }
  return fields;
}

/** Returns the resident KiB of the mappings of the process's own executable, from /proc/PID/smaps. */
function readExecutableKiB(pid: number): number {
  const executable = executablePath(pid);
  let mappedPath = "";
  let total = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "latin1").split("\n")) {
    // A mapping's header: address range, permissions, offset, device, inode, then the path if any.
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      mappedPath = header[1] ?? "";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (rss && mappedPath === executable) total += Number(rss[1]);
  }
  return total;
}

/** Returns the CPU time of all threads of pid in nanoseconds, or undefined where schedstat is missing. */
function readCpuNs(pid: number): number | undefined {
  let total = 0;
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "latin1").split(" ")[0]);
    }
  } catch {
    return undefined;
  }
  return total;
}

function readSample(pid: number, cpuStartNs: number | undefined): MemorySample {
  const rollup = readSmapsRollup(pid);
  const field = (name: string) => rollup.get(name) ?? 0;
  const cpuNs = readCpuNs(pid);
  return {
    rssKiB: field("Rss"),
    anonymousKiB: field("Anonymous"),
    fileKiB: field("Rss") - field("Anonymous"),
    executableKiB: readExecutableKiB(pid),
    pssKiB: field("Pss"),
    pssFileKiB: field("Pss_File"),
    pssShmemKiB: field("Pss_Shmem"),
    threads: readdirSync(`/proc/${pid}/task`).length,
    cpuMs: cpuNs === undefined || cpuStartNs === undefined ? undefined : (cpuNs - cpuStartNs) / 1e6,
  };
}

/** Returns the pid of the descendant of supervisorPid that runs sleepPath, or undefined after CHILD_TIMEOUT_MS. */
function waitForChild(supervisorPid: number, sleepPath: string): number | undefined {
  return pollSync(() => descendantPids(supervisorPid).find((pid) => executablePath(pid) === sleepPath), CHILD_TIMEOUT_MS, 10);
}

/** Names the supervising process of each tool in the report. */
function supervisorProcessName(supervisor: Supervisor): string {
  if (supervisor.id === "pm2") return "pm2 daemon (God)";
  return "supervisor";
}

interface IdleContext {
  session: BenchSession;
  idleSeconds: number;
  sleepPath: string;
  result: MemoryResult;
}

interface RunningService {
  service: Stoppable & { supervisorPid: number };
  childPid: number;
  runEntry: string;
}

/** Starts `sleep 600` under supervisor and waits for the child. Throws an Error with the reason when either fails. */
function startIdleService(context: IdleContext, supervisor: Supervisor, record: boolean): RunningService {
  const { session } = context;
  const { env, runEntry, runNumber } = session.runEnvironment();
  const dir = join(session.workDir, "memory", String(runNumber));
  mkdirSync(dir, { recursive: true });
  const request: ServiceRequest = {
    dir,
    name: `tinyd-bench-idle-${runNumber}`,
    command: [context.sleepPath, "600"],
    restart: "default",
    stdout: join(dir, "app.log"),
    stderr: join(dir, "app.log"),
    timestamps: false,
    env,
  };
  if (record) context.result.commands.push(`${supervisor.label}: \`${formatCommand(supervisor.argv(request), supervisor.displayName, dir)}\``);

  let service;
  try {
    service = supervisor.start(request);
  } catch (error) {
    session.sweepRun(runEntry);
    throw error;
  }
  session.track(service);
  const childPid = waitForChild(service.supervisorPid, context.sleepPath);
  if (childPid === undefined) {
    session.stop(service, runEntry);
    throw new Error(`no child of pid ${service.supervisorPid} ran sleep within ${CHILD_TIMEOUT_MS} ms`);
  }
  return { service, childPid, runEntry };
}

function stopIdleService(context: IdleContext, supervisor: Supervisor, running: RunningService): void {
  const escaped = context.session.stop(running.service, running.runEntry);
  if (escaped > 0) {
    context.result.problems.push(`${supervisor.label}: ${escaped} processes still ran after the service was stopped, and were killed by pid.`);
  }
}

/**
 * Measures one supervisor. For tinyd it also measures the first supervisor
 * again while a second service runs, because both map the same executable
 * and so share its pages.
 */
async function measureSupervisor(context: IdleContext, supervisor: Supervisor): Promise<void> {
  const { rows } = context.result;
  const processName = supervisorProcessName(supervisor);
  let first: RunningService | undefined;
  let second: RunningService | undefined;
  try {
    if (supervisor.id === "pm2") context.session.pm2?.kill(join(context.session.workDir, "pm2-kill.log"));
    first = startIdleService(context, supervisor, true);
    const cpuStart = readCpuNs(first.service.supervisorPid);
    await Bun.sleep(context.idleSeconds * 1000);
    rows.push({ label: supervisor.label, version: supervisor.version, process: processName, sample: readSample(first.service.supervisorPid, cpuStart) });
    rows.push({ label: supervisor.label, version: supervisor.version, process: "child (sleep)", sample: readSample(first.childPid, undefined) });

    if (supervisor.id === "tinyd") {
      second = startIdleService(context, supervisor, false);
      const cpuAgain = readCpuNs(first.service.supervisorPid);
      await Bun.sleep(context.idleSeconds * 1000);
      rows.push({
        label: `${supervisor.label}, with a second service running`,
        version: supervisor.version,
        process: "the first supervisor",
        sample: readSample(first.service.supervisorPid, cpuAgain),
      });
    }
  } catch (error) {
    rows.push({ label: supervisor.label, version: supervisor.version, process: processName, failure: (error as Error).message });
  } finally {
    if (second) stopIdleService(context, supervisor, second);
    if (first) stopIdleService(context, supervisor, first);
  }
}

/**
 * Builds a compiled Bun program that only waits, with the compile flags of
 * scripts/build.ts, and measures it like a supervisor.
 */
async function measureBunFloor(context: IdleContext): Promise<void> {
  const label = "Bun floor";
  const version = `Bun ${Bun.version}`;
  const dir = join(context.session.workDir, "memory", "floor");
  const floor = compileFloor(dir, "idle", "setInterval(() => {}, 1 << 30);\n");
  if ("failure" in floor) {
    context.result.rows.push({ label, version, process: "the program", failure: floor.failure });
    return;
  }
  context.result.commands.push(
    `${label}: \`FLOORDIR/idle\`, built by the benchmark from \`setInterval(() => {}, 1 << 30)\` with the compile flags of scripts/build.ts`,
  );

  const { env, runEntry } = context.session.runEnvironment();
  const child = Bun.spawn([floor.binary], { cwd: dir, env, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  const program: Stoppable = { stop: () => stopProcesses([child.pid]) };
  context.session.track(program);
  try {
    const cpuStart = readCpuNs(child.pid);
    await Bun.sleep(context.idleSeconds * 1000);
    context.result.rows.push({ label, version, process: "the program", sample: readSample(child.pid, cpuStart) });
  } catch (error) {
    context.result.rows.push({ label, version, process: "the program", failure: (error as Error).message });
  } finally {
    context.session.stop(program, runEntry);
  }
}

/** Measures the idle memory of each supervisor in turn, then of the Bun floor. */
export async function measureIdleMemory(
  session: BenchSession,
  supervisors: Supervisor[],
  missing: MissingSupervisor[],
  idleSeconds: number,
  sleepPath: string,
): Promise<MemoryResult> {
  const result: MemoryResult = { idleSeconds, rows: [], commands: [], missing, problems: [] };
  const context: IdleContext = { session, idleSeconds, sleepPath, result };
  for (const supervisor of supervisors) {
    process.stderr.write(`bench: idle memory of ${supervisor.label}\n`);
    await measureSupervisor(context, supervisor);
  }
  process.stderr.write("bench: idle memory of the Bun floor\n");
  await measureBunFloor(context);

  for (const row of result.rows) {
    if (row.sample && row.sample.pssShmemKiB > 0) {
      result.problems.push(`${row.label}, ${row.process}: maps ${row.sample.pssShmemKiB} KiB of shared memory (Pss_Shmem), which the file-backed column includes.`);
    }
  }
  return result;
}
