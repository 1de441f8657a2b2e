/**
 * The supervisors that the supervisor benchmark compares: tinyd in
 * supervised mode (on both launch paths), libslack daemon and pm2. Each one
 * runs a command as a service that writes its pidfiles and logs into a
 * directory of the run's own, and each service is stopped through its tool
 * and then by pid.
 */
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Stoppable } from "./bench-session.ts";
import type { Pm2 } from "./launchers.ts";
import { descendantPids, isRunning, pollSync, readPidfile, stopProcesses } from "./processes.ts";
import { copyTinyd, debianVersion, findLibslackDaemon, type MissingTool, notInstalled } from "./tools.ts";

/** The restart policy of a service. */
export type RestartMode =
  | "none" // the service ends with its command
  | "default" // the tool restarts the command with its default delays
  | "immediate"; // the tool restarts the command at once, with its delays and limits off where it allows that

export interface ServiceRequest {
  /** A directory of the run's own, for pidfiles, logs and the tool's own messages. */
  dir: string;
  /** A name unique within the benchmark, for tools that name their services (pm2). */
  name: string;
  /** The command, with an absolute path first. */
  command: string[];
  restart: RestartMode;
  /** Log files of the command's stdout and stderr; the same path puts both streams into one file. */
  stdout: string;
  stderr: string;
  /** Prefix each line of the logs with a time; only where Supervisor.timestampOption is set. */
  timestamps: boolean;
  env: Record<string, string>;
}

export interface Service extends Stoppable {
  /** The pid of the supervising process: tinyd's supervisor, libslack daemon, or pm2's daemon. */
  supervisorPid: number;
}

export interface Supervisor {
  /** A stable key: "tinyd", "tinyd-fallback", "daemon" or "pm2". */
  id: string;
  label: string;
  version: string;
  /** The name that stands for the executable in the commands the report shows. */
  displayName: string;
  /** The option that prefixes each log line with a time, or undefined when the tool has none. */
  timestampOption?: string;
  /** The maximum of restarts in a row that "immediate" allows, where the tool caps them. */
  immediateRestartLimit?: number;
  /** Remarks the report adds after the tool's commands. */
  notes: string[];
  /** The command that starts the service, with the executable's name first for display. */
  argv(request: ServiceRequest): string[];
  /** Starts the service and returns once the supervising process runs. Throws an Error with the reason when it cannot. */
  start(request: ServiceRequest): Service;
}

export type MissingSupervisor = MissingTool;

/** How long a tool's command (a launcher, `tinyd stop`, `pm2 delete`) may run before the benchmark kills it. */
const TOOL_TIMEOUT_MS = 60_000;
/** How long after the launcher's exit the supervising process may take to write its pidfile. */
const SUPERVISOR_TIMEOUT_MS = 5_000;

/** Quotes a word for a POSIX shell, leaving plain words as they are. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs a tool's command to its end with stdin from /dev/null and its output
 * appended to logPath. Throws an Error with the first line of that output
 * when it exits with another status than 0.
 */
function runTool(argv: string[], env: Record<string, string>, logPath: string): void {
  const log = openSync(logPath, "a");
  let exitCode: number | null;
  try {
    const result = Bun.spawnSync(argv, { env, stdin: "ignore", stdout: log, stderr: log, timeout: TOOL_TIMEOUT_MS });
    exitCode = result.exitedDueToTimeout ? null : result.exitCode;
  } finally {
    closeSync(log);
  }
  if (exitCode === 0) return;

  const firstLine = readFileSync(logPath, "utf8").trim().split("\n", 1)[0] ?? "";
  const status = exitCode === null ? `timed out after ${TOOL_TIMEOUT_MS} ms` : `exited with status ${exitCode}`;
  throw new Error(`${argv[0]} ${status}: ${firstLine}`);
}

/**
 * Formats a command for the report: displayName in place of the
 * executable's path, words quoted for a shell, and DIR in place of the
 * run's directory.
 */
export function formatCommand(argv: string[], displayName: string, dir: string): string {
  return [displayName, ...argv.slice(1).map(shellQuote)].join(" ").replaceAll(dir, "DIR");
}

/** Waits for a pidfile to name a running process; throws when none does within SUPERVISOR_TIMEOUT_MS. */
function waitForPidfile(path: string, what: string): number {
  const pid = pollSync(() => {
    const candidate = readPidfile(path);
    return candidate !== undefined && isRunning(candidate) ? candidate : undefined;
  }, SUPERVISOR_TIMEOUT_MS);
  if (pid === undefined) throw new Error(`${what} wrote no running pid into ${path} within ${SUPERVISOR_TIMEOUT_MS} ms`);
  return pid;
}

function outputOptions(request: ServiceRequest, both: string, stdout: string, stderr: string): string[] {
  return request.stdout === request.stderr ? [both, request.stdout] : [stdout, request.stdout, stderr, request.stderr];
}

/**
 * Returns tinyd in supervised mode on the native launch path and on the
 * fallback one. Both run a copy of source in workDir, so a rebuild of
 * build/tinyd during the benchmark changes nothing. Throws when source does
 * not exist.
 */
export function tinydSupervisors(workDir: string, source: string): Supervisor[] {
  const { binary, version } = copyTinyd(source, workDir);

  const restartOptions: Record<RestartMode, string[]> = {
    none: [],
    default: ["-r"],
    immediate: ["-r", "-R", "0", "--min-uptime", "0"],
  };
  const argv = (request: ServiceRequest) => [
    binary,
    ...restartOptions[request.restart],
    "-P",
    join(request.dir, "supervisor.pid"),
    "-p",
    join(request.dir, "child.pid"),
    ...outputOptions(request, "-o", "--stdout", "--stderr"),
    ...(request.timestamps ? ["--timestamps"] : []),
    "--",
    ...request.command,
  ];

  const supervisor = (id: string, label: string, environment: Record<string, string>, notes: string[]): Supervisor => ({
    id,
    label,
    version,
    displayName: Object.entries(environment)
      .map(([key, value]) => `${key}=${value} `)
      .concat("build/tinyd")
      .join(""),
    timestampOption: "--timestamps",
    notes,
    argv,
    start(request) {
      const env = { ...request.env, ...environment };
      const log = join(request.dir, "tinyd-launcher.log");
      // tinyd returns once the first child has exec'd and the pidfiles are written.
      runTool(argv(request), env, log);
      const pidfile = join(request.dir, "supervisor.pid");
      const pid = waitForPidfile(pidfile, "tinyd");
      return {
        supervisorPid: pid,
        stop() {
          const tree = [pid, ...descendantPids(pid)];
          try {
            runTool([binary, "stop", "-p", pidfile], env, log);
          } catch {
            // The kill by pid below stops what `tinyd stop` left.
          }
          return stopProcesses(tree);
        },
      };
    },
  });

  return [
    supervisor("tinyd", "tinyd", {}, []),
    supervisor("tinyd-fallback", "tinyd, fallback launch", { TINYD_LAUNCH: "fallback" }, [
      "`TINYD_LAUNCH=fallback` in the environment: the supervisor starts its children with `Bun.spawn` instead of compiling C with bun:ffi's TinyCC",
    ]),
  ];
}

/** Returns libslack daemon, or a MissingSupervisor when it is not installed. */
export function libslackSupervisor(): Supervisor | MissingSupervisor {
  const label = "daemon (libslack)";
  const daemon = findLibslackDaemon();
  if (daemon === undefined) return notInstalled(label, "daemon");

  // libslack daemon respawns at once, but by default a client that ran less
  // than --acceptable (300 s, at least 10 s) counts as failed, and after
  // --attempts failures (5, at most 100) it waits --delay (300 s, at least
  // 10 s). Only root may lift those bounds, with --idiot.
  const isRoot = process.getuid?.() === 0;
  const immediate = isRoot ? ["--idiot", "--respawn", "--acceptable", "0"] : ["--respawn", "--attempts", "100", "--delay", "10"];
  const restartOptions: Record<RestartMode, string[]> = { none: [], default: ["--respawn"], immediate };
  const argv = (request: ServiceRequest) => [
    daemon,
    ...restartOptions[request.restart],
    "--pidfile",
    join(request.dir, "daemon.pid"),
    "--errlog",
    join(request.dir, "daemon-messages.log"),
    ...outputOptions(request, "--output", "--stdout", "--stderr"),
    "--",
    ...request.command,
  ];

  return {
    id: "daemon",
    label,
    version: debianVersion("daemon"),
    displayName: "daemon",
    // 100 attempts include the first start.
    immediateRestartLimit: isRoot ? undefined : 99,
    notes: isRoot
      ? ["`--idiot --acceptable 0` (root only) counts no exit as a failure, so no respawn burst limit or delay applies"]
      : ["without root, `--attempts 100` allows at most 99 respawns in a row before a `--delay` of 10 s"],
    argv,
    start(request) {
      const log = join(request.dir, "daemon-launcher.log");
      // daemon exits after its first fork, before it writes the pidfile.
      runTool(argv(request), request.env, log);
      const pid = waitForPidfile(join(request.dir, "daemon.pid"), "daemon");
      return {
        supervisorPid: pid,
        stop() {
          // daemon passes SIGTERM on to its client and exits. The client is
          // killed by pid afterwards, because a respawn could race the
          // signal. A client respawned after this look-up still carries the
          // run's environment entry, which the session searches for.
          const children = descendantPids(pid);
          return [...stopProcesses([pid]), ...stopProcesses(children)];
        },
      };
    },
  };
}

/** Returns pm2, installed by the benchmark, as a supervisor. */
export function pm2Supervisor(pm2: Pm2): Supervisor {
  const restartOptions: Record<RestartMode, string[]> = {
    none: ["--no-autorestart"],
    default: [],
    // pm2 has no command-line option for min_uptime (1 s by default): a
    // shorter run only counts against --max-restarts, and adds no delay.
    immediate: ["--restart-delay", "0", "--max-restarts", "1000000"],
  };
  const argv = (request: ServiceRequest) => [
    pm2.binary,
    "start",
    request.command[0]!,
    "--name",
    request.name,
    "--interpreter",
    "none",
    ...restartOptions[request.restart],
    "-o",
    request.stdout,
    "-e",
    request.stderr,
    ...(request.timestamps ? ["--time"] : []),
    "--",
    ...request.command.slice(1),
  ];

  return {
    id: "pm2",
    label: "pm2",
    version: pm2.version,
    displayName: "pm2",
    timestampOption: "--time",
    notes: [
      "the supervising process is pm2's daemon (\"God\"), started by the first `pm2 start` of the run; PM2_HOME is a private temporary directory",
    ],
    argv,
    start(request) {
      const env = { ...request.env, PM2_HOME: pm2.home };
      const log = join(request.dir, "pm2.log");
      // pm2 start returns once the pm2 daemon reports the application online.
      runTool(argv(request), env, log);
      const pid = pm2.daemonPid();
      if (pid === undefined) throw new Error(`pm2 start exited 0, but no pm2 daemon runs (no pid in ${pm2.home}/pm2.pid)`);
      return {
        supervisorPid: pid,
        stop() {
          // The benchmark runs one pm2 application at a time, so the pm2
          // daemon's children are this service's.
          const children = descendantPids(pid);
          try {
            runTool([pm2.binary, "delete", request.name], env, log);
          } catch {
            // The kill by pid below stops the application.
          }
          return stopProcesses(children);
        },
      };
    },
  };
}
