/**
 * The command line, the main flow and the run facts that both benchmarks
 * share. Each takes count options, --tinyd, --write and --help, and exits
 * 64 on a usage error and 1 when it cannot measure. Each cleans up on exit,
 * on an error and on SIGINT, SIGTERM or SIGHUP. Each prints its report and,
 * with --write, writes it into docs/benchmarks.md. Linux only, because it
 * reads /proc.
 */
import { readFileSync } from "node:fs";
import { loadavg, release, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "../lib/source.ts";
import { checkReportSection, type ReportSection, writeReportSection } from "./markdown.ts";

/** The file whose generated sections --write replaces. */
const BENCHMARKS_DOC = join(ROOT, "docs", "benchmarks.md");

/** A count option: its value without the option, and the smallest value it accepts. */
export interface CountOption {
  fallback: number;
  minimum: number;
}

/** The options of a benchmark's command line. */
export interface BenchmarkOptions<Name extends string> {
  counts: Record<Name, number>;
  /** The tinyd binary to measure: --tinyd resolved, or build/tinyd. */
  tinyd: string;
  write: boolean;
}

/** Facts about the machine and the run that the report header shows. */
export interface RunInfo {
  date: string;
  command: string;
  cpuModel: string;
  cpuCount: string;
  memory: string;
  kernel: string;
  /** The 1-minute load average when the benchmark started. */
  loadAverage: string;
  bunVersion: string;
}

class UsageError extends Error {}

function parseCount(name: string, value: string | undefined, option: CountOption): number {
  if (value === undefined) return option.fallback;
  if (!/^\d+$/.test(value) || Number(value) < option.minimum) {
    throw new UsageError(`invalid --${name} ${JSON.stringify(value)}: expected an integer of at least ${option.minimum}`);
  }
  return Number(value);
}

/**
 * Parses the count options declared in counts (checked in their order),
 * --tinyd PATH, --write and --help. Returns undefined for --help. Throws
 * on an unknown option, a positional argument or an invalid count.
 */
export function parseBenchmarkOptions<Name extends string>(args: string[], counts: Record<Name, CountOption>): BenchmarkOptions<Name> | undefined {
  const names = Object.keys(counts) as Name[];
  const { values } = parseArgs({
    args,
    options: {
      ...Object.fromEntries(names.map((name) => [name, { type: "string" as const }])),
      tinyd: { type: "string" },
      write: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return undefined;

  const parsed = {} as Record<Name, number>;
  const countValues = values as Record<string, string | boolean | undefined>;
  for (const name of names) parsed[name] = parseCount(name, countValues[name] as string | undefined, counts[name]);
  const tinyd = values.tinyd as string | undefined;
  return {
    counts: parsed,
    tinyd: tinyd === undefined ? join(ROOT, "build", "tinyd") : resolve(tinyd),
    write: values.write === true,
  };
}

export function readRunInfo(command: string): RunInfo {
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown";
  const nproc = Bun.spawnSync(["nproc"], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  return {
    date: new Date().toISOString().slice(0, 10),
    command,
    cpuModel,
    cpuCount: nproc.exitCode === 0 ? nproc.stdout.toString().trim() : "unknown",
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: release(),
    loadAverage: (loadavg()[0] ?? 0).toFixed(2),
    bunVersion: Bun.version,
  };
}

/** The state a benchmark must clean up: its temporary directory and every process it started. */
export interface CleanupSession {
  /** Stops every process the benchmark started, by pid, and removes its files. Safe to call more than once. */
  cleanup(): void;
}

/** One benchmark, as runBenchmark runs it. */
export interface Benchmark<Name extends string, Session extends CleanupSession> {
  /** The script's path from the repository root, as the report's command shows it. */
  script: string;
  usage: string;
  counts: Record<Name, CountOption>;
  section: ReportSection;
  /** The noun for what the cleanup stops in the message on a signal, such as "processes". */
  startedProcesses: string;
  createSession(): Session;
  /** Runs the measurements and returns the report. */
  measure(options: BenchmarkOptions<Name>, session: Session, info: RunInfo): Promise<string>;
}

/** Stops everything the session started when the benchmark is interrupted, then exits with 128 + the signal. */
function handleSignals(session: CleanupSession, startedProcesses: string): void {
  const statuses = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
  for (const [signal, status] of Object.entries(statuses)) {
    process.on(signal, () => {
      console.error(`bench: received ${signal}, so stopping the ${startedProcesses} started so far`);
      session.cleanup();
      process.exit(status);
    });
  }
}

/**
 * Parses the command line, runs the benchmark, prints its report and, with
 * --write, writes it into docs/benchmarks.md. Cleans up the session in
 * every case. Returns the exit status: 0 after a report (also one with
 * missed targets or failed runs), 0 for --help, 64 on a usage error and 1
 * when the benchmark cannot measure.
 */
export async function runBenchmark<Name extends string, Session extends CleanupSession>(
  benchmark: Benchmark<Name, Session>,
  args: string[],
): Promise<number> {
  let options: BenchmarkOptions<Name> | undefined;
  try {
    options = parseBenchmarkOptions(args, benchmark.counts);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n\n${benchmark.usage}`);
    return 64;
  }
  if (options === undefined) {
    console.log(benchmark.usage);
    return 0;
  }

  const session = benchmark.createSession();
  handleSignals(session, benchmark.startedProcesses);
  try {
    const info = readRunInfo(["node_modules/.bin/bun", benchmark.script, ...args].join(" "));
    if (options.write) checkReportSection(BENCHMARKS_DOC, benchmark.section);

    const report = await benchmark.measure(options, session, info);
    console.log(`\n${report}`);
    if (options.write) {
      writeReportSection(BENCHMARKS_DOC, benchmark.section, report);
      console.error(`bench: wrote the results into ${BENCHMARKS_DOC}`);
    }
    return 0;
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    return 1;
  } finally {
    session.cleanup();
  }
}
