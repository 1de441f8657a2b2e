/**
 * The supervisor process: tinyd started as a daemon with the supervisor role.
 *
 * It reads its configuration from the control socket on fd 0, locks the
 * pidfiles, starts the child, reports to the launcher on the same socket,
 * and then restarts the child by its policy until a stop is requested. The
 * supervisor never exits before its child: that would orphan the child and
 * leave its pidfile stale.
 */
import { closeSync, constants as fs, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { selectedMethod } from "../launch";
import { acquirePidfile, type PidfileLock, releasePidfile } from "../pidfile";
import { constants } from "../posix/constants";
import { dup2, type ExitStatus, kill, setProcessName, umask } from "../posix/libc";
import { parseSignal, signalName } from "../signals";
import { switchCredentials } from "../identity";
import { ReadinessListener, type WaitOutcome } from "../readiness/listener";
import { socketOwner } from "../readiness/start";
import { type Child, ChildStartError, reapWaiting, startChild } from "./child";
import type { SupervisorConfig } from "./config";
import { OutputRouter, type Stream } from "./output";
import { describeExit, RestartPolicy } from "./policy";
import { removeState, type SupervisorState, writeState } from "./state";
import { SyslogClient } from "./syslog";

/** The control socket from the launcher, on the supervisor's stdin until start-up is over. */
const CONTROL_FD = 0;
/** How long to wait for the child's pipes to reach end-of-file after it exits; a descendant may hold them. */
const OUTPUT_DRAIN_MS = 1000;
/**
 * Interval of the periodic reap, a safety net behind SIGCHLD. The timer also
 * keeps Bun's event loop waiting in epoll: with nothing but signal listeners
 * and a pending promise, Bun 1.4.5 spins at full CPU instead.
 */
const HOUSEKEEPING_MS = 5000;

const SEVERITY = { err: 3, warning: 4, notice: 5, info: 6 } as const;

/** A child with the copying of its output and the wait for its readiness under way. */
interface SupervisedChild extends Child {
  output: Promise<void>;
  /** Settles with the readiness outcome; null without readiness. */
  readiness: Promise<WaitOutcome> | null;
}

function readConfig(): SupervisorConfig {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(65536);
  for (;;) {
    const length = readSync(CONTROL_FD, buffer, 0, buffer.length, null);
    if (length === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, length)));
    if (buffer[length - 1] === 0x0a) break;
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as SupervisorConfig;
}

function reportToLauncher(line: string, fd: number = CONTROL_FD): void {
  try {
    writeSync(fd, `${line}\n`);
  } catch {
    // The launcher is gone; the supervisor goes on.
  }
}

/** Linux keeps 15 bytes of a process name. */
const PROCESS_NAME_BYTES = 15;

/** Returns TITLE[childpid], with TITLE shortened so that the pid fits in Linux's 15 bytes. */
function processTitle(title: string, pid: number): string {
  const suffix = `[${pid}]`;
  return `${title.slice(0, Math.max(1, PROCESS_NAME_BYTES - suffix.length))}${suffix}`;
}

/** Exit status of the supervisor that mirrors the child's: its code, or 128 + signal. */
function mirroredStatus(exit: ExitStatus): number {
  if (exit.signal !== null) return 128 + exit.signal;
  return exit.code ?? 70;
}

class Supervisor {
  private readonly router: OutputRouter;
  private readonly policy: RestartPolicy;
  private readonly locks: PidfileLock[] = [];
  private readonly pidfiles: string[];
  private readonly native: boolean;
  private readonly startedAt = new Date();
  private child: Child | null = null;
  private childLock: PidfileLock | null = null;
  private lastExit: SupervisorState["lastExit"] = null;
  /** Whether the current child reported ready; null without readiness. */
  private childReady: boolean | null = null;
  /** The reason the restart policy ended the service; null while it runs or after a stop. */
  private endReason: string | null = null;
  private phase: SupervisorState["phase"] = "running";
  private stopRequested = false;
  private wakeUp: (() => void) | null = null;
  private killTimer: Timer | null = null;

  constructor(
    private readonly config: SupervisorConfig,
    syslog: SyslogClient | null,
  ) {
    this.router = new OutputRouter(config, syslog);
    this.policy = new RestartPolicy(config.restart);
    this.pidfiles = [config.supervisorPidfile, config.childPidfile].filter((path): path is string => path !== null);
    this.native = selectedMethod() === "native";
  }

  /** Locks both pidfiles; throws a TinydError when one is held by another process. */
  lockPidfiles(): void {
    if (this.config.supervisorPidfile !== null) {
      const lock = acquirePidfile(this.config.supervisorPidfile);
      this.locks.push(lock);
      writeSync(lock.writeFd, `${process.pid}\n`, 0);
    }
    if (this.config.childPidfile !== null) {
      this.childLock = acquirePidfile(this.config.childPidfile);
      this.locks.push(this.childLock);
    }
    // Any state file beside a pidfile that was free is stale.
    for (const pidfile of this.pidfiles) removeState(pidfile);
  }

  private log(text: string, severity: number): void {
    this.router.message(text, severity);
  }

  private saveState(): void {
    if (this.pidfiles.length === 0) return;
    const state: SupervisorState = {
      supervisorPid: process.pid,
      supervisorStartedAt: this.startedAt.toISOString(),
      childPid: this.child?.pid ?? null,
      childStartedAt: this.child?.startedAt.toISOString() ?? null,
      restarts: this.policy.restarts,
      lastExit: this.lastExit,
      phase: this.phase,
      ...(this.endReason === null ? {} : { endReason: this.endReason }),
      ready: this.childReady,
      command: this.config.command,
      childPidfile: this.config.childPidfile,
      supervisorPidfile: this.config.supervisorPidfile,
      stopTimeoutMs: this.config.stopTimeoutMs,
    };
    try {
      writeState(this.pidfiles, state);
    } catch (error) {
      this.log(`cannot write the state file: ${(error as Error).message}`, SEVERITY.err);
    }
  }

  private writeChildPid(pid: number | null): void {
    if (!this.childLock) return;
    ftruncateSync(this.childLock.writeFd, 0);
    if (pid !== null) writeSync(this.childLock.writeFd, `${pid}\n`, 0);
  }

  /**
   * Starts a child, begins copying its output and, with readiness, begins
   * waiting for its report. Throws ChildStartError.
   */
  async startChild(): Promise<SupervisedChild> {
    const listener = this.config.readiness ? ReadinessListener.open({ notifyFd: this.config.readiness.notifyFd, owner: socketOwner(this.config.credentials) }) : null;
    let child: Child;
    try {
      child = await startChild(this.config, this.router.capturesOutput, this.native, listener);
    } catch (error) {
      listener?.close();
      throw error;
    }
    this.child = child;
    this.childReady = listener ? false : null;
    this.phase = "running";
    this.writeChildPid(child.pid);
    this.saveState();
    if (this.config.title !== null) setProcessName(processTitle(this.config.title, child.pid));
    this.log(`started child ${child.pid}: ${this.config.command.join(" ")}`, SEVERITY.info);

    // The output is copied from the start: a child whose pipe fills up
    // before it reports ready would wait forever.
    const output = Promise.all([this.copyOutput(child.stdout, 1), this.copyOutput(child.stderr, 2)]).then(() => undefined);
    const readiness = listener ? this.watchReadiness(child, listener) : null;
    return { ...child, output, readiness };
  }

  /**
   * Waits for a child's readiness report and logs the outcome. A child that
   * does not report in time is stopped, and the restart policy then treats
   * it like any other child that ended.
   */
  private async watchReadiness(child: Child, listener: ReadinessListener): Promise<WaitOutcome> {
    const timeoutMs = this.config.readiness!.timeoutMs;
    let result: WaitOutcome;
    try {
      result = await listener.wait({
        timeoutMs,
        exited: child.exited,
        onStatus: (status) => this.log(`child ${child.pid} status: ${status}`, SEVERITY.info),
      });
    } finally {
      listener.close();
    }
    if (this.child?.pid !== child.pid) return result;

    if (result.outcome === "ready") {
      this.childReady = true;
      this.saveState();
      const waited = Date.now() - child.startedAt.getTime();
      this.log(`child ${child.pid} is ready after ${waited} ms (${result.state.readyBy})`, SEVERITY.notice);
    } else if (result.outcome === "timeout") {
      this.log(`child ${child.pid} did not report ready within ${timeoutMs! / 1000} s; stopping it`, SEVERITY.err);
      this.stopChild(parseSignal("TERM"));
    }
    return result;
  }

  private copyOutput(fd: number | null, stream: Stream): Promise<void> {
    if (fd === null) return Promise.resolve();
    return (async () => {
      try {
        for await (const chunk of Bun.file(fd).stream()) this.router.childOutput(stream, chunk);
      } catch (error) {
        this.log(`cannot read the child's ${stream === 1 ? "stdout" : "stderr"}: ${(error as Error).message}`, SEVERITY.err);
      }
      this.router.flushChild(stream);
      closeSync(fd);
    })();
  }

  /** Sends the stop signal to the child's process group and SIGKILL after the stop timeout. */
  private stopChild(signal: number): void {
    const child = this.child;
    if (!child) return;
    try {
      kill(-child.pid, signal);
    } catch {
      // The group is gone already.
    }
    if (this.killTimer === null) {
      this.killTimer = setTimeout(() => {
        this.log(`child ${child.pid} did not exit within ${this.config.stopTimeoutMs / 1000} s of ${signalName(signal)}; sending SIGKILL to its process group`, SEVERITY.warning);
        try {
          kill(-child.pid, constants.SIGKILL);
        } catch {
          // Gone in the meantime.
        }
      }, this.config.stopTimeoutMs);
    }
  }

  requestStop(signal: number): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.phase = "stopping";
    this.saveState();
    if (this.child) {
      this.log(`received ${signalName(signal)}; stopping child ${this.child.pid}`, SEVERITY.notice);
      this.stopChild(signal);
    } else {
      this.log(`received ${signalName(signal)}; stopping`, SEVERITY.notice);
    }
    this.wakeUp?.();
  }

  forward(signal: number): void {
    if (signal === parseSignal("HUP") && this.config.reopenOnHup) {
      this.router.reopen();
      this.log("reopened the log files", SEVERITY.info);
      return;
    }
    if (!this.child) return;
    try {
      kill(this.child.pid, signal);
    } catch {
      // The child is exiting; its end is handled by the main loop.
    }
  }

  private sleepUnlessStopped(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
    });
  }

  /** Runs children until a stop or the policy ends the service; returns the supervisor's exit status. */
  async run(first: SupervisedChild): Promise<number> {
    let child: SupervisedChild | null = first;
    for (;;) {
      const exit = await child.exited;
      const uptimeMs = Date.now() - child.startedAt.getTime();
      await Promise.race([child.output, Bun.sleep(OUTPUT_DRAIN_MS)]);
      if (this.killTimer !== null) clearTimeout(this.killTimer);
      this.killTimer = null;

      this.child = null;
      this.writeChildPid(null);
      this.lastExit = {
        code: exit.code,
        signal: exit.signal === null ? null : signalName(exit.signal),
        at: new Date().toISOString(),
      };

      if (this.stopRequested) {
        this.log(`child ${child.pid} exited with ${describeExit(exit)}; stopped`, SEVERITY.notice);
        return 0;
      }

      const decision = this.policy.decide(exit, uptimeMs, Date.now());
      if (!decision.restart) {
        this.log(`child ${child.pid} exited with ${describeExit(exit)}; not restarting: ${decision.reason}`, exit.code === 0 ? SEVERITY.notice : SEVERITY.err);
        this.endReason = decision.reason;
        return mirroredStatus(exit);
      }
      this.log(`child ${child.pid} exited with ${describeExit(exit)}; restarting in ${decision.delayMs / 1000} s (restart ${this.policy.restarts})`, SEVERITY.warning);
      this.phase = "restarting";
      this.saveState();

      if (decision.delayMs > 0) await this.sleepUnlessStopped(decision.delayMs);
      if (this.stopRequested) {
        this.log("stopped during the restart delay", SEVERITY.notice);
        return 0;
      }

      child = null;
      while (child === null) {
        try {
          child = await this.startChild();
        } catch (error) {
          if (!(error instanceof ChildStartError)) throw error;
          // A failed exec counts as a child that ended at once with 126 or 127.
          const failed: ExitStatus = { code: error.exitCode, signal: null };
          this.lastExit = { code: error.exitCode, signal: null, at: new Date().toISOString() };
          const retry = this.policy.decide(failed, 0, Date.now());
          if (!retry.restart) {
            this.log(`${error.message}; not restarting: ${retry.reason}`, SEVERITY.err);
            this.endReason = `${error.message}; ${retry.reason}`;
            return error.exitCode;
          }
          this.log(`${error.message}; retrying in ${retry.delayMs / 1000} s`, SEVERITY.err);
          await this.sleepUnlessStopped(retry.delayMs);
          if (this.stopRequested) return 0;
        }
      }
    }
  }

  /**
   * Removes the pidfiles while still holding the locks, then releases them.
   * The state files go too, except after the policy gave up: then they keep
   * the reason for status.
   */
  cleanUp(): void {
    if (this.endReason !== null) {
      this.phase = "ended";
      this.saveState();
    } else {
      for (const pidfile of this.pidfiles) removeState(pidfile);
    }
    for (const lock of this.locks) releasePidfile(lock, true);
    this.locks.length = 0;
  }
}

/**
 * Moves the control socket off fd 0 and puts /dev/null there, then returns
 * the socket's new descriptor. This happens before the report, so the
 * supervisor's stdin is /dev/null by the time the launcher returns.
 */
function detachControl(): number {
  const control = openSync("/dev/null", fs.O_RDONLY | constants.O_CLOEXEC);
  const devNull = openSync("/dev/null", fs.O_RDONLY | constants.O_CLOEXEC);
  dup2(CONTROL_FD, control);
  dup2(devNull, CONTROL_FD);
  closeSync(devNull);
  return control;
}

export async function runSupervisor(): Promise<never> {
  let config: SupervisorConfig;
  try {
    config = readConfig();
  } catch (error) {
    reportToLauncher(`error 70 the supervisor cannot read its configuration: ${(error as Error).message}`);
    process.exit(70);
  }
  if (config.umask !== null) umask(config.umask);

  let syslog: SyslogClient | null = null;
  let supervisor: Supervisor;
  try {
    if (config.syslog) syslog = new SyslogClient(config.syslog, process.pid);
    supervisor = new Supervisor(config, syslog);
    supervisor.lockPidfiles();
  } catch (error) {
    const exitCode = (error as { exitCode?: number }).exitCode ?? 70;
    reportToLauncher(`error ${exitCode} ${(error as Error).message}`);
    process.exit(exitCode);
  }

  setInterval(reapWaiting, HOUSEKEEPING_MS);
  if (config.supervisorCredentials !== null) {
    try {
      switchCredentials(config.supervisorCredentials);
    } catch (error) {
      supervisor.cleanUp();
      reportToLauncher(`error 77 the supervisor cannot switch to its user: ${(error as Error).message}`);
      process.exit(77);
    }
  }

  process.on("SIGTERM", () => supervisor.requestStop(parseSignal("TERM")));
  process.on("SIGINT", () => supervisor.requestStop(parseSignal("INT")));
  // QUIT too: a JVM or a Go program prints a stack dump on it.
  for (const name of ["HUP", "QUIT", "USR1", "USR2", "WINCH"] as const) {
    process.on(`SIG${name}`, () => supervisor.forward(parseSignal(name)));
  }

  let first: SupervisedChild;
  try {
    first = await supervisor.startChild();
  } catch (error) {
    supervisor.cleanUp();
    const exitCode = error instanceof ChildStartError ? error.exitCode : 70;
    reportToLauncher(`error ${exitCode} ${(error as Error).message}`);
    process.exit(exitCode);
  }

  // With readiness, the launcher returns only once the first child is ready.
  const readiness = first.readiness ? await first.readiness : null;
  if (readiness && readiness.outcome !== "ready") {
    const exit = await first.exited;
    await Promise.race([first.output, Bun.sleep(OUTPUT_DRAIN_MS)]);
    supervisor.cleanUp();
    const where = config.stderr ?? config.stdout;
    const see = where ? `; see ${where}` : "";
    if (readiness.outcome === "timeout") {
      const status = readiness.state.status === null ? "" : `; its last status was '${readiness.state.status}'`;
      reportToLauncher(`error 75 the daemon did not report ready within ${config.readiness!.timeoutMs! / 1000} s and was stopped${status}${see}`);
      process.exit(75);
    }
    reportToLauncher(`error 69 the daemon exited with ${describeExit(exit)} before it reported ready${see}`);
    process.exit(69);
  }

  const control = detachControl();
  reportToLauncher(`ok ${process.pid} ${first.pid}`, control);
  closeSync(control);

  let status: number;
  try {
    status = await supervisor.run(first);
  } catch (error) {
    supervisor.cleanUp();
    throw error;
  }
  supervisor.cleanUp();
  process.exit(status);
}
