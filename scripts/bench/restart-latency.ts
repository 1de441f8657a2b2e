/**
 * Restart latency: each supervisor restarts, with every delay off, a child
 * that appends bash's $EPOCHREALTIME (microseconds, read without a fork) to
 * a stamp file and exits. Consecutive stamps are one child's exit, the
 * supervisor's reap, fork and exec, and the next bash's start-up apart. The
 * same child run in a plain bash loop, without a supervisor, gives the
 * intervals that the child and a minimal parent cost, so the difference
 * estimates the supervisor's share without tracing it.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchSession } from "./bench-session.ts";
import { formatCommand, type MissingSupervisor, shellQuote, type Supervisor } from "./supervisors.ts";
import { commandOutput } from "./tools.ts";

export interface RestartRow {
  label: string;
  version: string;
  /** Milliseconds between consecutive stamps, one per restart. */
  intervals: number[];
  failure?: string;
}

export interface RestartResult {
  /** Restarts the benchmark asked each supervisor for. */
  restarts: number;
  /** The plain bash loop; undefined when bash cannot run it. */
  baseline: RestartRow | undefined;
  rows: RestartRow[];
  commands: string[];
  notes: string[];
  missing: MissingSupervisor[];
  problems: string[];
  /** The reason nothing was measured, when bash lacks $EPOCHREALTIME. */
  skipped?: string;
}

/** How long the stamps of one supervisor may take to reach the requested count. */
const RESTARTS_TIMEOUT_MS = 60_000;
const POLL_MS = 20;

/** Returns the stamps in the file, in milliseconds, reading a decimal comma as a point. */
function readStamps(path: string): number[] {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => Number(line.replace(",", ".")) * 1000);
}

function intervalsOf(stamps: number[]): number[] {
  return stamps.slice(1).map((stamp, index) => stamp - stamps[index]!);
}

/** Returns the child's script, which appends one stamp to the file at path. */
function stampScript(path: string): string {
  return `echo "$EPOCHREALTIME" >> ${shellQuote(path)}`;
}

/**
 * Returns the version of bash when it has $EPOCHREALTIME (bash 5 and
 * later), or undefined.
 */
function bashVersion(bash: string): string | undefined {
  const stamp = commandOutput([bash, "-c", 'echo "$EPOCHREALTIME"']);
  if (stamp === undefined || !/^\d+[.,]\d+$/.test(stamp)) return undefined;
  return commandOutput([bash, "-c", 'echo "$BASH_VERSION"']);
}

/** Runs the child restarts + 1 times in a bash loop and returns the intervals. */
function measureBaseline(session: BenchSession, bash: string, restarts: number, result: RestartResult, version: string): RestartRow {
  const label = "bash loop, no supervisor";
  const { env } = session.runEnvironment();
  const dir = join(session.workDir, "restarts", "baseline");
  mkdirSync(dir, { recursive: true });
  const stamps = join(dir, "stamps");
  // $0 is bash itself, $1 the count of restarts and $2 the child's script.
  const argv = [bash, "-c", 'for ((i = 0; i <= $1; i++)); do "$0" -c "$2"; done', bash, String(restarts), stampScript(stamps)];
  result.commands.push(`${label}: \`${formatCommand(argv, "bash", dir)}\``);

  const run = Bun.spawnSync(argv, { cwd: dir, env, stdin: "ignore", stdout: "ignore", stderr: "pipe", timeout: RESTARTS_TIMEOUT_MS });
  const intervals = intervalsOf(readStamps(stamps));
  if (run.exitCode !== 0 || intervals.length !== restarts) {
    const message = run.stderr.toString().trim().split("\n")[0] ?? "";
    return { label, version, intervals: [], failure: `the loop exited with status ${run.exitCode} after ${intervals.length} of ${restarts} restarts: ${message}` };
  }
  return { label, version, intervals };
}

async function measureSupervisor(session: BenchSession, supervisor: Supervisor, bash: string, restarts: number, result: RestartResult): Promise<RestartRow> {
  const count = Math.min(restarts, supervisor.immediateRestartLimit ?? restarts);
  if (count < restarts) result.notes.push(`${supervisor.label}: ${count} restarts instead of ${restarts}, its limit without root.`);

  const { env, runEntry, runNumber } = session.runEnvironment();
  const dir = join(session.workDir, "restarts", String(runNumber));
  mkdirSync(dir, { recursive: true });
  const stamps = join(dir, "stamps");
  const request = {
    dir,
    name: `tinyd-bench-restart-${runNumber}`,
    command: [bash, "-c", stampScript(stamps)],
    restart: "immediate" as const,
    stdout: join(dir, "app.log"),
    stderr: join(dir, "app.log"),
    timestamps: false,
    env,
  };
  result.commands.push(`${supervisor.label}: \`${formatCommand(supervisor.argv(request), supervisor.displayName, dir)}\``);
  const row: RestartRow = { label: supervisor.label, version: supervisor.version, intervals: [] };

  let service;
  try {
    service = supervisor.start(request);
  } catch (error) {
    session.sweepRun(runEntry);
    return { ...row, failure: (error as Error).message };
  }
  session.track(service);
  try {
    const deadline = performance.now() + RESTARTS_TIMEOUT_MS;
    while (readStamps(stamps).length <= count && performance.now() < deadline) await Bun.sleep(POLL_MS);
  } finally {
    const escaped = session.stop(service, runEntry);
    if (escaped > 0) result.problems.push(`${supervisor.label}: ${escaped} processes still ran after the service was stopped, and were killed by pid.`);
  }

  const intervals = intervalsOf(readStamps(stamps).slice(0, count + 1));
  if (intervals.length < count) {
    return { ...row, intervals, failure: `only ${intervals.length} of ${count} restarts within ${RESTARTS_TIMEOUT_MS / 1000} s` };
  }
  return { ...row, intervals };
}

/** Measures the bash loop, then each supervisor in turn. */
export async function measureRestarts(
  session: BenchSession,
  supervisors: Supervisor[],
  missing: MissingSupervisor[],
  bash: string | undefined,
  restarts: number,
): Promise<RestartResult> {
  const result: RestartResult = { restarts, baseline: undefined, rows: [], commands: [], notes: [], missing, problems: [] };
  const version = bash === undefined ? undefined : bashVersion(bash);
  if (bash === undefined || version === undefined) {
    result.skipped = "bash 5 or later not found (the child reads the time from $EPOCHREALTIME)";
    return result;
  }

  process.stderr.write("bench: restarts in a bash loop\n");
  result.baseline = measureBaseline(session, bash, restarts, result, `bash ${version}`);
  for (const supervisor of supervisors) {
    process.stderr.write(`bench: restarts under ${supervisor.label}\n`);
    result.rows.push(await measureSupervisor(session, supervisor, bash, restarts, result));
  }
  return result;
}
