/**
 * The state that the supervisor benchmark's cleanup needs: its temporary
 * directory, the services it started and the environment entry that marks
 * every process it starts. The cleanup runs on exit, on an error and on
 * SIGINT, SIGTERM or SIGHUP. Linux only, because it reads /proc.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Pm2 } from "./launchers.ts";
import { pidsWithEnvironmentEntry, stopProcesses } from "./processes.ts";

/** A running service, or any other process tree the benchmark started, that can stop itself. */
export interface Stoppable {
  /**
   * Stops the processes through their tool where there is one, then by pid.
   * Returns the pids still running after SIGKILL, which should be none.
   * Safe to call more than once.
   */
  stop(): number[];
}

export class BenchSession {
  readonly id = `${process.pid}-${Date.now()}`;
  readonly workDir = mkdtempSync(join(tmpdir(), "tinyd-bench-supervisor-"));
  /** The pm2 installed into workDir, once it is. */
  pm2: Pm2 | undefined;
  private readonly running = new Set<Stoppable>();
  private runCount = 0;
  private cleaned = false;

  get environmentEntry(): string {
    return `TINYD_BENCH_SESSION=${this.id}`;
  }

  /**
   * Returns the environment for a new run: the benchmark's own, marked with
   * the session's entry and one of the run's own. It lacks BASH_ENV and ENV,
   * which would make a shell read a file at start-up, and sets the C locale,
   * because bash prints $EPOCHREALTIME with the locale's decimal point.
   */
  runEnvironment(): { env: Record<string, string>; runEntry: string; runNumber: number } {
    this.runCount++;
    const runId = `${this.id}-${this.runCount}`;
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    delete env.BASH_ENV;
    delete env.ENV;
    Object.assign(env, { LC_ALL: "C", TINYD_BENCH_SESSION: this.id, TINYD_BENCH_RUN: runId });
    return { env, runEntry: `TINYD_BENCH_RUN=${runId}`, runNumber: this.runCount };
  }

  track(target: Stoppable): void {
    this.running.add(target);
  }

  /**
   * Stops a tracked process tree, then kills what sweepRun finds. Returns
   * how many processes sweepRun found.
   */
  stop(target: Stoppable, runEntry: string): number {
    this.running.delete(target);
    target.stop();
    return this.sweepRun(runEntry);
  }

  /**
   * Kills by pid every process that carries the run's environment entry,
   * except the pm2 daemon, which outlives the run that started it. Returns
   * how many processes it found.
   */
  sweepRun(runEntry: string): number {
    const pm2DaemonPid = this.pm2?.daemonPid();
    const escaped = pidsWithEnvironmentEntry(runEntry).filter((pid) => pid !== pm2DaemonPid);
    stopProcesses(escaped);
    return escaped.length;
  }

  /**
   * Stops every tracked process, pm2 and anything else that carries the
   * session's environment entry, by pid, and removes the temporary
   * directory. Safe to call more than once.
   */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;

    for (const target of this.running) target.stop();
    this.running.clear();
    this.pm2?.kill(join(this.workDir, "pm2-kill.log"));
    const stillRunning = stopProcesses(pidsWithEnvironmentEntry(this.environmentEntry));
    if (stillRunning.length > 0) {
      console.error(`bench: processes ${stillRunning.join(", ")} did not exit after SIGKILL. Kill them by hand.`);
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }
}
