/**
 * Start-time benchmark: measures the wall time from invoking a launcher to
 * its exit, with `sleep 600` started as a daemon, for tinyd, daemonize,
 * libslack daemon, start-stop-daemon, `setsid -f` and pm2, next to a compiled
 * hello-world as the floor. A benchmark, not a test: it prints the results
 * and checks the targets, and exits 0 also when a target is missed or a run
 * fails. It exits 1 when it cannot measure at all, for example without
 * build/tinyd, and 64 on a usage error.
 *
 *     bun scripts/bench/start.ts [--runs N] [--warmup N] [--tinyd PATH] [--write]
 *
 * Every daemon it starts carries the environment entry
 * TINYD_BENCH_SESSION=ID, so that a search of /proc finds and kills any that
 * escaped the kill by pid, also on an error, SIGINT, SIGTERM or SIGHUP.
 * Linux only, because it reads /proc.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../lib/source.ts";
import { runBenchmark } from "./common.ts";
import {
  debianLaunchers,
  floorLauncher,
  Pm2,
  tinydLaunchers,
  type Launcher,
  type LauncherSetup,
  type MissingLauncher,
  type Run,
} from "./launchers.ts";
import {
  descendantPids,
  executablePath,
  isRunning,
  pidsWithEnvironmentEntry,
  pollSync,
  readPidfile,
  stopProcesses,
  treeRunsExecutable,
} from "./processes.ts";
import { renderReport, START_TIME_SECTION, type LauncherResult, type Sample } from "./report.ts";

const USAGE = `usage: bun scripts/bench/start.ts [--runs N] [--warmup N] [--tinyd PATH] [--write]

  --runs N       timed runs of each launcher (default 30)
  --warmup N     untimed rounds of all launchers before the timed ones (default 3)
  --tinyd PATH   the tinyd binary to measure, copied at the start (default build/tinyd)
  --write        replace the results section of docs/benchmarks.md with this run's`;

/** How long a launcher may run before the benchmark kills it and counts a failure. */
const LAUNCHER_TIMEOUT_MS = 60_000;
/** How long after the launcher's exit the daemon may take to appear with its pid in the pidfile. */
const DAEMON_TIMEOUT_MS = 5_000;

/** How many rounds of all launchers run: first the untimed warm-up rounds, then the timed ones. */
interface Rounds {
  runs: number;
  warmupRounds: number;
}

/** The state that the cleanup needs, shared by the main path and the signal handlers. */
class Session {
  readonly id = `${process.pid}-${Date.now()}`;
  readonly workDir = mkdtempSync(join(tmpdir(), "tinyd-bench-"));
  /** Pids of daemons that were started and not yet stopped. */
  readonly daemonPids = new Set<number>();
  pm2: Pm2 | undefined;
  private cleaned = false;

  get environmentEntry(): string {
    return `TINYD_BENCH_SESSION=${this.id}`;
  }

  /**
   * Stops pm2 and every daemon the benchmark started, by pid, and removes
   * the temporary directory. Safe to call more than once.
   */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;

    this.pm2?.kill(join(this.workDir, "pm2-kill.log"));
    stopProcesses(this.daemonPids);
    const escaped = pidsWithEnvironmentEntry(this.environmentEntry);
    const stillRunning = stopProcesses(escaped);
    if (stillRunning.length > 0) {
      console.error(`bench: processes ${stillRunning.join(", ")} did not exit after SIGKILL. Kill them by hand.`);
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

/** Returns the pid of the run's daemon once it runs sleep, or undefined after DAEMON_TIMEOUT_MS. */
function waitForDaemon(launcher: Launcher, run: Run, runEntry: string, sleepPath: string): number | undefined {
  if (launcher.daemon === "pidfile") {
    return pollSync(() => {
      const pidfile = launcher.pidfilePath?.(run) ?? run.pidfile;
      const pid = readPidfile(pidfile);
      return pid !== undefined && isRunning(pid) && treeRunsExecutable(pid, sleepPath) ? pid : undefined;
    }, DAEMON_TIMEOUT_MS);
  }
  // setsid writes no pidfile, so the daemon is found by its environment.
  return pollSync(
    () => pidsWithEnvironmentEntry(runEntry).find((pid) => executablePath(pid) === sleepPath),
    DAEMON_TIMEOUT_MS,
    10,
  );
}

/** Times one launcher invocation, confirms its daemon is up, and stops that daemon by pid. */
function measureRun(session: Session, launcher: Launcher, run: Run, runEntry: string, sleepPath: string): Sample {
  launcher.prepare?.();
  const argv = launcher.argv(run);
  const output = openSync(join(run.dir, "output.log"), "w");

  let exitCode: number | null = null;
  let spawnError: string | undefined;
  const started = Bun.nanoseconds();
  try {
    const result = Bun.spawnSync(argv, {
      cwd: run.dir,
      env: run.env,
      stdin: "ignore",
      stdout: output,
      stderr: output,
      timeout: LAUNCHER_TIMEOUT_MS,
    });
    exitCode = result.exitedDueToTimeout ? null : result.exitCode;
  } catch (error) {
    spawnError = (error as Error).message;
  }
  const ms = (Bun.nanoseconds() - started) / 1e6;
  closeSync(output);

  // Check the daemon at once, before anything else can give it time to finish starting.
  const sample: Sample = { ms, leftovers: 0 };
  if (launcher.daemon === "pidfile") {
    const pid = readPidfile(launcher.pidfilePath?.(run) ?? run.pidfile);
    sample.pidfileAtExit = pid !== undefined && isRunning(pid);
    sample.commandAtExit = pid !== undefined && sample.pidfileAtExit && treeRunsExecutable(pid, sleepPath);
  }

  if (spawnError !== undefined) {
    sample.failure = `spawn failed: ${spawnError}`;
  } else if (exitCode !== 0) {
    const message = readFileSync(join(run.dir, "output.log"), "utf8").trim().split("\n")[0] ?? "";
    const status = exitCode === null ? `timed out after ${LAUNCHER_TIMEOUT_MS} ms` : `exited with status ${exitCode}`;
    sample.failure = `the launcher ${status}: ${message}`;
  }

  if (launcher.daemon !== "none") {
    const pid = waitForDaemon(launcher, run, runEntry, sleepPath);
    if (pid === undefined && sample.failure === undefined) {
      sample.failure = `no running sleep in the pidfile (or, for setsid, in /proc) ${DAEMON_TIMEOUT_MS} ms after the launcher exited`;
    }
    if (pid !== undefined) {
      session.daemonPids.add(pid);
      launcher.stop?.(run);
      stopProcesses([pid, ...descendantPids(pid)]);
      session.daemonPids.delete(pid);
    }
  }

  // Anything else this run started (libslack daemon's client, a daemon
  // whose pidfile never appeared) carries the run's environment entry.
  const pm2DaemonPid = session.pm2?.daemonPid();
  const escaped = pidsWithEnvironmentEntry(runEntry).filter((pid) => pid !== pm2DaemonPid);
  sample.leftovers = escaped.length;
  stopProcesses(escaped);
  return sample;
}

/** Runs warm-up rounds, then the timed rounds, each one running every launcher once in the same order. */
async function runRounds(session: Session, launchers: Launcher[], options: Rounds): Promise<LauncherResult[]> {
  const sleepPath = realpathSync("/bin/sleep");
  const results: LauncherResult[] = launchers.map((launcher) => ({ launcher, samples: [] }));
  const rounds = options.warmupRounds + options.runs;
  let runNumber = 0;

  for (let round = 1; round <= rounds; round++) {
    const warmup = round <= options.warmupRounds;
    const progress = warmup ? `warm-up round ${round}/${options.warmupRounds}` : `round ${round - options.warmupRounds}/${options.runs}`;
    process.stderr.write(`bench: ${progress}\n`);

    for (const result of results) {
      runNumber++;
      const runId = `${session.id}-${runNumber}`;
      const runEntry = `TINYD_BENCH_RUN=${runId}`;
      const dir = join(session.workDir, "runs", String(runNumber));
      mkdirSync(dir, { recursive: true });
      const run: Run = {
        dir,
        pidfile: join(dir, "daemon.pid"),
        name: `tinyd-bench-${runNumber}`,
        env: {
          ...(process.env as Record<string, string>),
          ...result.launcher.environment,
          TINYD_BENCH_SESSION: session.id,
          TINYD_BENCH_RUN: runId,
        },
      };

      const sample = measureRun(session, result.launcher, run, runEntry, sleepPath);
      if (!warmup) result.samples.push(sample);
      rmSync(dir, { recursive: true, force: true });

      // Yield to the event loop so that a SIGINT handler can run between runs.
      await Bun.sleep(0);
    }
  }
  return results;
}

process.exitCode = await runBenchmark(
  {
    script: "scripts/bench/start.ts",
    usage: USAGE,
    counts: {
      runs: { fallback: 30, minimum: 1 },
      warmup: { fallback: 3, minimum: 0 },
    },
    section: START_TIME_SECTION,
    startedProcesses: "daemons",
    createSession: () => new Session(),
    async measure(options, session, runInfo) {
      const rounds: Rounds = { runs: options.counts.runs, warmupRounds: options.counts.warmup };
      const info = { ...runInfo, ...rounds };
      const logDir = join(session.workDir, "logs");
      mkdirSync(logDir);
      const setup: LauncherSetup = { root: ROOT, workDir: session.workDir, logDir };

      const launchers: Launcher[] = [];
      const missing: MissingLauncher[] = [];
      const add = (entry: Launcher | MissingLauncher) => {
        if ("reason" in entry) {
          console.error(`bench: ${entry.label}: ${entry.reason}`);
          missing.push(entry);
        } else {
          launchers.push(entry);
        }
      };

      const tinydRows = tinydLaunchers(setup, options.tinyd);
      add(floorLauncher(setup));
      for (const launcher of tinydRows) add(launcher);
      for (const entry of debianLaunchers()) add(entry);
      process.stderr.write("bench: installing pm2 with npm into the temporary directory\n");
      const pm2 = Pm2.install(setup);
      if (typeof pm2 === "string") {
        add({ label: "pm2 start", reason: pm2 });
      } else {
        session.pm2 = pm2;
        for (const launcher of pm2.launchers(setup)) add(launcher);
      }

      const results = await runRounds(session, launchers, rounds);
      return renderReport(info, results, missing);
    },
  },
  process.argv.slice(2),
);
