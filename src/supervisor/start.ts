/**
 * The launcher's side of supervised mode: start tinyd as a daemon in the
 * supervisor role, send it its configuration, and wait until it reports that
 * the first child runs or why it could not start.
 */
import { closeSync, constants as fs, existsSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { type ErrorCode, ExitCode, TinydError } from "../errors";
import { launch, type LaunchResult, LaunchStep, selectedMethod } from "../launch";
import type { StartPlan } from "../options";
import { readPidfile } from "../pidfile";
import { constants } from "../posix/constants";
import { kill, socketpair, strerror } from "../posix/libc";
import { ROLE_ENV, selfCommand } from "../self";
import { chownCreatedFiles } from "../privileges";
import { StartResources } from "../start-resources";
import type { SupervisorConfig } from "./config";

export interface StartedService {
  /** The first child's pid. */
  pid: number;
  supervisorPid: number;
  pidfile: string | null;
  supervisorPidfile: string | null;
}

/** How long the launcher waits for the supervisor's report before it gives up and kills it. */
const REPORT_TIMEOUT_MS = 30_000;

function checkNotRunning(pidfile: string | null, what: string): void {
  if (pidfile === null) return;
  if (!existsSync(dirname(pidfile))) {
    throw new TinydError("E_PIDFILE", `cannot open ${what} ${pidfile}: directory ${dirname(pidfile)} does not exist. Create it or choose another path`, ExitCode.CANNOT_CREATE, {
      path: pidfile,
    });
  }
  const state = readPidfile(pidfile);
  if (state.locked) {
    const holder = state.pid === null ? "another process" : `pid ${state.pid}`;
    throw new TinydError("E_ALREADY_RUNNING", `already running as ${holder} (${pidfile})`, ExitCode.FAILURE, { path: pidfile, pid: state.pid });
  }
}

/**
 * Returns the supervisor's environment: the child's, plus the role marker.
 * The supervisor passes config.env to each child explicitly, so the marker
 * never reaches a child.
 */
function supervisorEnvironment(config: SupervisorConfig): string[] {
  return [...config.env, `${ROLE_ENV.supervisor}=1`];
}

/** Reads one line from the control socket, or null at end-of-file or timeout; a null timeout waits without a limit. */
async function readReport(fd: number, timeoutMs: number | null): Promise<string | null> {
  const decoder = new TextDecoder();
  let text = "";
  const reading = (async () => {
    for await (const chunk of Bun.file(fd).stream()) {
      text += decoder.decode(chunk, { stream: true });
      const newline = text.indexOf("\n");
      if (newline >= 0) return text.slice(0, newline);
    }
    return null;
  })();
  if (timeoutMs === null) return reading;
  const timeout = Bun.sleep(timeoutMs).then(() => null);
  return Promise.race([reading, timeout]);
}

function launchError(result: Extract<LaunchResult, { ok: false }>): TinydError {
  const reason = result.errno ? strerror(result.errno) : "the launch process ended without a report";
  return new TinydError("E_LAUNCH", `cannot start the supervisor (step ${LaunchStep[result.step]}): ${reason}`, ExitCode.OS_ERROR);
}

/**
 * Starts the supervisor and resolves once its first child has exec'd and the
 * pidfiles are written. Rejects with the supervisor's error otherwise,
 * leaving no process and no pidfile.
 */
export async function spawnSupervised(plan: StartPlan, config: SupervisorConfig): Promise<StartedService> {
  // Fail before anything starts where the outcome is already known; the
  // supervisor checks again under its locks.
  checkNotRunning(config.supervisorPidfile, "supervisor pidfile");
  checkNotRunning(config.childPidfile, "pidfile");
  if (config.syslog && !existsSync(config.syslog.socket)) {
    throw new TinydError("E_USAGE", `cannot log to syslog: ${config.syslog.socket} does not exist. Start a syslog daemon or pass --syslog-socket`, ExitCode.UNAVAILABLE, {
      socket: config.syslog.socket,
    });
  }

  const privileged = config.credentials !== null || config.chroot !== null || config.nice !== null || config.limits.length > 0;
  if (privileged && selectedMethod(plan.launch) === "fallback") {
    throw new TinydError("E_USAGE", "-u, --group, --chroot, --nice and --limit under a supervisor need the native launch (bun:ffi's compiler)", ExitCode.USAGE);
  }

  const resources = new StartResources();
  let failed = true;
  let control: [number, number] | null = null;
  try {
    const stdout = resources.open(plan.stdout);
    const stderr = resources.open(plan.stderr);
    chownCreatedFiles(resources.files, plan.runAs);
    const devNull = openSync("/dev/null", fs.O_RDWR | constants.O_CLOEXEC);
    resources.files.push({ path: "/dev/null", fd: devNull, created: false });
    control = socketpair();

    const command = selfCommand(new URL("./entry.ts", import.meta.url));
    const result = await launch(
      {
        path: command[0]!,
        argv: command,
        env: supervisorEnvironment(config),
        cwd: "/",
        umask: plan.umask,
        stdin: control[1],
        stdout: stdout ?? devNull,
        stderr: stderr ?? devNull,
        lockFd: null,
        closeFds: true,
        keepFds: [],
        resetSignals: true,
        foreground: false,
        // The supervisor keeps tinyd's privileges; each child gets the requested ones.
        credentials: null,
        chroot: null,
        nice: null,
        limits: [],
      },
      plan.launch,
    );
    closeSync(control[1]);
    if (!result.ok) throw launchError(result);
    const supervisorPid = result.pid;
    // From here on the supervisor may write to the output files, so a failure keeps them.
    resources.keepOutputFiles();

    writeSync(control[0], `${JSON.stringify(config)}\n`);
    // With readiness, the report waits for the first child's; the supervisor enforces that timeout.
    const readinessMs = config.readiness ? config.readiness.timeoutMs : 0;
    const report = await readReport(control[0], readinessMs === null ? null : readinessMs + REPORT_TIMEOUT_MS);
    if (report === null) {
      try {
        kill(supervisorPid, constants.SIGKILL);
      } catch {
        // Already gone.
      }
      const where = plan.stderr ?? plan.stdout;
      throw new TinydError(
        "E_LAUNCH",
        `supervisor ${supervisorPid} ended or hung before it reported${where ? `; see ${where}` : ""}`,
        ExitCode.SOFTWARE,
        { supervisorPid },
      );
    }

    const ok = /^ok (\d+) (\d+)$/.exec(report);
    if (!ok) {
      const error = /^error (\d+) (.*)$/.exec(report);
      const exitCode = error ? Number(error[1]) : ExitCode.SOFTWARE;
      const message = error ? error[2]! : `unexpected report from the supervisor: ${report}`;
      let code: ErrorCode = "E_LAUNCH";
      if (exitCode === ExitCode.FAILURE) code = "E_ALREADY_RUNNING";
      if (exitCode === ExitCode.UNAVAILABLE) code = "E_NOT_READY";
      if (exitCode === ExitCode.TEMPORARY_FAILURE) code = "E_TIMEOUT";
      if (exitCode >= ExitCode.NOT_EXECUTABLE) code = "E_EXEC";
      throw new TinydError(code, message, exitCode, { supervisorPid });
    }

    failed = false;
    return { pid: Number(ok[2]), supervisorPid: Number(ok[1]), pidfile: config.childPidfile, supervisorPidfile: config.supervisorPidfile };
  } finally {
    if (control) closeSync(control[0]);
    resources.release(failed);
  }
}
