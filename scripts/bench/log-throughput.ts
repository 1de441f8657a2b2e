/**
 * Log throughput: a child writes `seq 1 N` to its stdout as fast as it can.
 * The benchmark times it from the child's start until every byte is in the
 * log file, then checks that every line arrived once and in order.
 * `seq > file` and `seq | cat > file` on the same machine are the
 * baselines. The child stamps its start with `date +%s%N` right before it
 * execs seq, so the launchers' own start-up is left out.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchSession, Stoppable } from "./bench-session.ts";
import { stopProcesses } from "./processes.ts";
import { formatCommand, shellQuote, type MissingSupervisor, type Supervisor } from "./supervisors.ts";
import { debianVersion } from "./tools.ts";

/** A fixed-length prefix that a writer puts before each line. */
interface LinePrefix {
  length: number;
  pattern: RegExp;
}

/** One way to get the lines into the log file: a baseline or a supervisor. */
interface LogWriter {
  label: string;
  version: string;
  prefix?: LinePrefix;
  /** Starts writing; returns what stops it and the command as the report shows it. */
  start(run: LogRun): Stoppable;
  display(run: LogRun): string;
}

interface LogRun {
  dir: string;
  name: string;
  /** The file the writer's stdout lines go to. */
  log: string;
  /** The file into which the child writes its start time in nanoseconds since the epoch. */
  startStamp: string;
  env: Record<string, string>;
}

export interface LogSample {
  /** Milliseconds from the child's start until the log held every byte, or until the last byte that arrived. */
  ms: number;
  /** Whether the log reached its expected size before the stall timeout. */
  complete: boolean;
  lines: number;
  /** Lines equal to seq's, in the same place, before the first difference. */
  linesInOrder: number;
  /** The first line (1-based) that is missing, extra or different, if any. */
  firstDifference?: number;
  failure?: string;
}

export interface LogRow {
  label: string;
  version: string;
  samples: LogSample[];
}

export interface LogResult {
  lines: number;
  runs: number;
  /** Size of `seq 1 N` output in bytes. */
  bytes: number;
  rows: LogRow[];
  commands: string[];
  missing: MissingSupervisor[];
  problems: string[];
}

/** How long the log may stay the same size, short of complete, before the run counts as stalled. */
const STALL_MS = 5_000;
/** How long one run may take in all. */
const RUN_TIMEOUT_MS = 180_000;
/** How long the child may take to write its start stamp. */
const START_TIMEOUT_MS = 30_000;

/** The line prefix of each supervisor's timestamp option, by supervisor id. */
const TIMESTAMP_PREFIXES: Record<string, LinePrefix> = {
  // --timestamps: an ISO-8601 time in UTC with milliseconds, then a space.
  tinyd: { length: 25, pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z $/ },
  // --time with pm2's default format, YYYY-MM-DDTHH:mm:ss in local time, then a colon and a space.
  pm2: { length: 21, pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d: $/ },
};

/** Returns the current time in milliseconds since the epoch, with the resolution of performance.now(). */
function realNow(): number {
  return performance.timeOrigin + performance.now();
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Compares the log with seq's output line by line, skipping the prefix on
 * each line of the log. Stops comparing at the first difference and counts
 * the remaining lines.
 */
export function compareLines(log: Buffer, expected: Buffer, prefix: LinePrefix | undefined): Pick<LogSample, "lines" | "linesInOrder" | "firstDifference"> {
  let lines = 0;
  let linesInOrder = 0;
  let firstDifference: number | undefined;
  let logOffset = 0;
  let expectedOffset = 0;

  while (logOffset < log.length) {
    let lineEnd = log.indexOf(0x0a, logOffset);
    if (lineEnd < 0) lineEnd = log.length;
    lines++;

    if (firstDifference === undefined) {
      const expectedEnd = expected.indexOf(0x0a, expectedOffset);
      let contentStart = logOffset;
      let same = expectedEnd >= 0 && lineEnd < log.length;
      if (same && prefix) {
        same = lineEnd - logOffset >= prefix.length && prefix.pattern.test(log.toString("latin1", logOffset, logOffset + prefix.length));
        contentStart = logOffset + prefix.length;
      }
      if (same) same = log.compare(expected, expectedOffset, expectedEnd, contentStart, lineEnd) === 0;

      if (same) {
        linesInOrder++;
        expectedOffset = expectedEnd + 1;
      } else {
        firstDifference = lines;
      }
    }
    logOffset = lineEnd + 1;
  }

  // A log that is right but short differs at the first missing line.
  if (firstDifference === undefined && expectedOffset < expected.length) firstDifference = lines + 1;
  return { lines, linesInOrder, firstDifference };
}

/** Waits for the child's start stamp and returns it in milliseconds since the epoch. */
async function readStartStamp(path: string): Promise<number | undefined> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const text = existsSync(path) ? readFileSync(path, "latin1").trim() : "";
    if (/^\d+$/.test(text)) return Number(BigInt(text) / 1000n) / 1000;
    await Bun.sleep(1);
  }
  return undefined;
}

/**
 * Polls the log's size every millisecond until it reaches expectedSize, or
 * until it has stayed the same for STALL_MS. Returns the time it was seen
 * complete, or the time of the last growth.
 */
async function waitForLog(path: string, expectedSize: number): Promise<{ at: number; complete: boolean }> {
  const started = realNow();
  let lastSize = -1;
  let lastGrowth = started;
  for (;;) {
    const size = fileSize(path);
    const now = realNow();
    if (size >= expectedSize) return { at: now, complete: true };
    if (size !== lastSize) {
      lastSize = size;
      lastGrowth = now;
    }
    if (now - lastGrowth > STALL_MS || now - started > RUN_TIMEOUT_MS) return { at: lastGrowth, complete: false };
    await Bun.sleep(1);
  }
}

interface LogContext {
  session: BenchSession;
  lines: number;
  expected: Buffer;
  shell: string;
  seq: string;
}

/** Returns the child's script, which stamps the start and then runs the writing commands in tail. */
function childScript(run: LogRun, tail: string): string {
  return `date +%s%N > ${shellQuote(run.startStamp)}; ${tail}`;
}

/** Returns a baseline that the shell runs alone, stopped by pid. */
function shellWriter(context: LogContext, label: string, version: string, tail: (run: LogRun) => string): LogWriter {
  const argv = (run: LogRun) => [context.shell, "-c", childScript(run, tail(run))];
  return {
    label,
    version,
    display: (run) => formatCommand(argv(run), "sh", run.dir),
    start(run) {
      const child = Bun.spawn(argv(run), { cwd: run.dir, env: run.env, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
      return { stop: () => stopProcesses([child.pid]) };
    },
  };
}

function supervisedWriter(context: LogContext, supervisor: Supervisor, timestamps: boolean, prefix: LinePrefix | undefined): LogWriter {
  const request = (run: LogRun) => ({
    dir: run.dir,
    name: run.name,
    command: [context.shell, "-c", childScript(run, `exec ${shellQuote(context.seq)} 1 ${context.lines}`)],
    restart: "none" as const,
    stdout: run.log,
    stderr: join(run.dir, "stderr.log"),
    timestamps,
    env: run.env,
  });
  return {
    label: timestamps ? `${supervisor.label} ${supervisor.timestampOption}` : supervisor.label,
    version: supervisor.version,
    prefix,
    display: (run) => formatCommand(supervisor.argv(request(run)), supervisor.displayName, run.dir),
    start: (run) => supervisor.start(request(run)),
  };
}

async function measureRun(context: LogContext, writer: LogWriter, row: LogRow, result: LogResult, record: boolean): Promise<void> {
  const { session } = context;
  const { env, runEntry, runNumber } = session.runEnvironment();
  const dir = join(session.workDir, "log", String(runNumber));
  mkdirSync(dir, { recursive: true });
  const run: LogRun = { dir, name: `tinyd-bench-log-${runNumber}`, log: join(dir, "stdout.log"), startStamp: join(dir, "start"), env };
  if (record) result.commands.push(`${writer.label}: \`${writer.display(run)}\``);

  const expectedSize = context.expected.length + (writer.prefix?.length ?? 0) * context.lines;
  let writing: Stoppable;
  try {
    writing = writer.start(run);
  } catch (error) {
    session.sweepRun(runEntry);
    row.samples.push({ ms: 0, complete: false, lines: 0, linesInOrder: 0, failure: (error as Error).message });
    return;
  }
  session.track(writing);

  let sample: LogSample;
  try {
    const started = await readStartStamp(run.startStamp);
    if (started === undefined) {
      sample = { ms: 0, complete: false, lines: 0, linesInOrder: 0, failure: `the child wrote no start stamp within ${START_TIMEOUT_MS} ms` };
    } else {
      const end = await waitForLog(run.log, expectedSize);
      const log = existsSync(run.log) ? readFileSync(run.log) : Buffer.alloc(0);
      sample = { ms: end.at - started, complete: end.complete, ...compareLines(log, context.expected, writer.prefix) };
    }
  } finally {
    const escaped = session.stop(writing, runEntry);
    if (escaped > 0) result.problems.push(`${writer.label}: ${escaped} processes still ran after the run was stopped, and were killed by pid.`);
  }
  row.samples.push(sample);
}

/**
 * Runs every writer once per round, in the same order, for `runs` rounds,
 * so that load from other processes hits all writers alike.
 */
export async function measureLogThroughput(
  session: BenchSession,
  supervisors: Supervisor[],
  missing: MissingSupervisor[],
  lines: number,
  runs: number,
): Promise<LogResult> {
  const shell = "/bin/sh";
  const seq = Bun.which("seq");
  const cat = Bun.which("cat");
  if (seq === null || cat === null) throw new Error("seq or cat not found in PATH (Debian package coreutils)");

  const expectedPath = join(session.workDir, "expected.log");
  const generated = Bun.spawnSync([seq, "1", String(lines)], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  if (generated.exitCode !== 0) throw new Error(`seq 1 ${lines} exited with status ${generated.exitCode}`);
  writeFileSync(expectedPath, generated.stdout);
  const expected = readFileSync(expectedPath);

  const context: LogContext = { session, lines, expected, shell, seq };
  const coreutils = debianVersion("coreutils");
  const seqCommand = `exec ${shellQuote(seq)} 1 ${lines}`;
  const writers: LogWriter[] = [
    shellWriter(context, "seq > file", coreutils, (run) => `${seqCommand} > ${shellQuote(run.log)}`),
    shellWriter(context, "seq | cat > file", coreutils, (run) => `${shellQuote(seq)} 1 ${lines} | ${shellQuote(cat)} > ${shellQuote(run.log)}`),
  ];
  for (const supervisor of supervisors) {
    writers.push(supervisedWriter(context, supervisor, false, undefined));
    const prefix = TIMESTAMP_PREFIXES[supervisor.id];
    if (supervisor.timestampOption !== undefined && prefix !== undefined) {
      writers.push(supervisedWriter(context, supervisor, true, prefix));
    }
  }

  const result: LogResult = { lines, runs, bytes: expected.length, rows: writers.map((writer) => ({ label: writer.label, version: writer.version, samples: [] })), commands: [], missing, problems: [] };
  for (let round = 1; round <= runs; round++) {
    process.stderr.write(`bench: log throughput, round ${round}/${runs}\n`);
    for (const [index, writer] of writers.entries()) {
      await measureRun(context, writer, result.rows[index]!, result, round === 1);
    }
  }
  return result;
}
