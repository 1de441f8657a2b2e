/**
 * Supervisor benchmark: measures tinyd's supervised mode (`tinyd -r -P …`)
 * next to libslack daemon and pm2. It has three parts: the idle memory of
 * the supervising process, the restart latency with every delay off, and
 * the throughput of the child's output into the log file. A benchmark, not
 * a test: it prints the results and checks the targets, and exits 0 also
 * when a target is missed or a part fails. It exits 1 when it cannot
 * measure at all, for example without build/tinyd, and 64 on a usage
 * error.
 *
 *     bun scripts/bench/supervisor.ts [--idle SECONDS] [--restarts N] [--lines N] [--log-runs N] [--tinyd PATH] [--write]
 *
 * Every process it starts carries the environment entry
 * TINYD_BENCH_SESSION=ID, so that a search of /proc finds and kills any that
 * escaped the stop by pid, also on an error, SIGINT, SIGTERM or SIGHUP.
 * Linux only, because it reads /proc.
 */
import { mkdirSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { BenchSession } from "./bench-session.ts";
import { measureIdleMemory } from "./idle-memory.ts";
import { Pm2 } from "./launchers.ts";
import { measureLogThroughput } from "./log-throughput.ts";
import { measureRestarts } from "./restart-latency.ts";
import { checkReportSection, readRunInfo, renderReport, writeReportSection } from "./supervisor-report.ts";
import { findExecutable, libslackSupervisor, type MissingSupervisor, pm2Supervisor, type Supervisor, tinydSupervisors } from "./supervisors.ts";

const USAGE = `usage: bun scripts/bench/supervisor.ts [--idle SECONDS] [--restarts N] [--lines N] [--log-runs N] [--tinyd PATH] [--write]

  --idle SECONDS  how long each supervisor runs sleep before its memory is read (default 5)
  --restarts N    restarts timed under each supervisor, at least 50 (default 100)
  --lines N       lines the child writes in the log test, at least 1000 (default 5000000)
  --log-runs N    timed runs of each log writer (default 3)
  --tinyd PATH    the tinyd binary to measure, copied at the start (default build/tinyd)
  --write         replace the supervisor results in docs/benchmarks.md with this run's`;

interface Options {
  idleSeconds: number;
  restarts: number;
  lines: number;
  logRuns: number;
  tinyd: string | undefined;
  write: boolean;
}

class UsageError extends Error {}

function parseCount(name: string, value: string | undefined, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < minimum) {
    throw new UsageError(`invalid --${name} ${JSON.stringify(value)}: expected an integer of at least ${minimum}`);
  }
  return Number(value);
}

function parseOptions(args: string[]): Options | undefined {
  const { values } = parseArgs({
    args,
    options: {
      idle: { type: "string" },
      restarts: { type: "string" },
      lines: { type: "string" },
      "log-runs": { type: "string" },
      tinyd: { type: "string" },
      write: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return undefined;
  return {
    idleSeconds: parseCount("idle", values.idle, 5, 1),
    restarts: parseCount("restarts", values.restarts, 100, 50),
    lines: parseCount("lines", values.lines, 5_000_000, 1000),
    logRuns: parseCount("log-runs", values["log-runs"], 3, 1),
    tinyd: values.tinyd,
    write: values.write,
  };
}

/** Stops everything the session started when the benchmark is interrupted, then exits with 128 + the signal. */
function handleSignals(session: BenchSession): void {
  const statuses = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
  for (const [signal, status] of Object.entries(statuses)) {
    process.on(signal, () => {
      console.error(`bench: received ${signal}, so stopping the processes started so far`);
      session.cleanup();
      process.exit(status);
    });
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let options: Options | undefined;
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n\n${USAGE}`);
    return 64;
  }
  if (options === undefined) {
    console.log(USAGE);
    return 0;
  }

  const root = join(import.meta.dir, "..", "..");
  const session = new BenchSession();
  handleSignals(session);

  try {
    const info = readRunInfo(["node_modules/.bin/bun", "scripts/bench/supervisor.ts", ...args].join(" "));
    const docPath = join(root, "docs", "benchmarks.md");
    if (options.write) checkReportSection(docPath);

    const [tinyd, tinydFallback] = tinydSupervisors(session.workDir, options.tinyd === undefined ? join(root, "build", "tinyd") : resolve(options.tinyd));
    const peers: Supervisor[] = [];
    const missing: MissingSupervisor[] = [];
    const libslack = libslackSupervisor();
    if ("reason" in libslack) missing.push(libslack);
    else peers.push(libslack);

    process.stderr.write("bench: installing pm2 with npm into the temporary directory\n");
    const logDir = join(session.workDir, "logs");
    mkdirSync(logDir);
    const pm2 = Pm2.install({ root, workDir: session.workDir, logDir });
    if (typeof pm2 === "string") {
      missing.push({ label: "pm2", reason: pm2 });
    } else {
      session.pm2 = pm2;
      peers.push(pm2Supervisor(pm2));
    }
    for (const { label, reason } of missing) console.error(`bench: ${label}: ${reason}`);

    const sleep = findExecutable("sleep");
    if (sleep === undefined) throw new Error("sleep not found in PATH (Debian package coreutils)");
    const withFallback = [tinyd!, tinydFallback!, ...peers];
    const memory = await measureIdleMemory(session, withFallback, missing, options.idleSeconds, realpathSync(sleep));
    const restarts = await measureRestarts(session, withFallback, missing, findExecutable("bash"), options.restarts);
    const log = await measureLogThroughput(session, [tinyd!, ...peers], missing, options.lines, options.logRuns);

    const report = renderReport(info, memory, restarts, log);
    console.log(`\n${report}`);
    if (options.write) {
      writeReportSection(docPath, report);
      console.error(`bench: wrote the results into ${docPath}`);
    }
    return 0;
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    return 1;
  } finally {
    session.cleanup();
  }
}

process.exitCode = await main();
