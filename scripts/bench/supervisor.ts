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
import { join } from "node:path";
import { ROOT } from "../lib/source.ts";
import { BenchSession } from "./bench-session.ts";
import { runBenchmark } from "./common.ts";
import { measureIdleMemory } from "./idle-memory.ts";
import { Pm2 } from "./launchers.ts";
import { measureLogThroughput } from "./log-throughput.ts";
import { measureRestarts } from "./restart-latency.ts";
import { renderReport, SUPERVISOR_SECTION } from "./supervisor-report.ts";
import { libslackSupervisor, type MissingSupervisor, pm2Supervisor, type Supervisor, tinydSupervisors } from "./supervisors.ts";
import { findExecutable } from "./tools.ts";

const USAGE = `usage: bun scripts/bench/supervisor.ts [--idle SECONDS] [--restarts N] [--lines N] [--log-runs N] [--tinyd PATH] [--write]

  --idle SECONDS  how long each supervisor runs sleep before its memory is read (default 5)
  --restarts N    restarts timed under each supervisor, at least 50 (default 100)
  --lines N       lines the child writes in the log test, at least 1000 (default 5000000)
  --log-runs N    timed runs of each log writer (default 3)
  --tinyd PATH    the tinyd binary to measure, copied at the start (default build/tinyd)
  --write         replace the supervisor results in docs/benchmarks.md with this run's`;

process.exitCode = await runBenchmark(
  {
    script: "scripts/bench/supervisor.ts",
    usage: USAGE,
    counts: {
      idle: { fallback: 5, minimum: 1 },
      restarts: { fallback: 100, minimum: 50 },
      lines: { fallback: 5_000_000, minimum: 1000 },
      "log-runs": { fallback: 3, minimum: 1 },
    },
    section: SUPERVISOR_SECTION,
    startedProcesses: "processes",
    createSession: () => new BenchSession(),
    async measure(options, session, info) {
      const [tinyd, tinydFallback] = tinydSupervisors(session.workDir, options.tinyd);
      const peers: Supervisor[] = [];
      const missing: MissingSupervisor[] = [];
      const libslack = libslackSupervisor();
      if ("reason" in libslack) missing.push(libslack);
      else peers.push(libslack);

      process.stderr.write("bench: installing pm2 with npm into the temporary directory\n");
      const logDir = join(session.workDir, "logs");
      mkdirSync(logDir);
      const pm2 = Pm2.install({ root: ROOT, workDir: session.workDir, logDir });
      if (typeof pm2 === "string") {
        missing.push({ label: "pm2", reason: pm2 });
      } else {
        session.pm2 = pm2;
        peers.push(pm2Supervisor(pm2));
      }
      for (const { label, reason } of missing) console.error(`bench: ${label}: ${reason}`);

      const sleep = findExecutable("sleep");
      if (sleep === undefined) throw new Error("sleep not found in PATH (Debian package coreutils)");
      const { idle, restarts, lines } = options.counts;
      const withFallback = [tinyd!, tinydFallback!, ...peers];
      const memory = await measureIdleMemory(session, withFallback, missing, idle, realpathSync(sleep));
      const restartResult = await measureRestarts(session, withFallback, missing, findExecutable("bash"), restarts);
      const log = await measureLogThroughput(session, [tinyd!, ...peers], missing, lines, options.counts["log-runs"]);
      return renderReport(info, memory, restartResult, log);
    },
  },
  process.argv.slice(2),
);
