/**
 * The tinyd command: parse, dispatch to a subcommand, and turn every error
 * into one message line and its documented exit status.
 */
import { writeSync } from "node:fs";
import type { DaemonStatus } from "../control";
import { ExitCode, TinydError, usageError } from "../errors";
import type { DaemonOptions } from "../options";
import { VERSION_STRING } from "../version";
import { type OptionValues, parseCommandLine } from "./argv";
import { supervisionOptions } from "./supervision-options";
import type { SubcommandDef } from "./definitions";
import { renderHelp } from "./help";
import { LOG_LEVEL_QUIET, log, output } from "./log";

/** Maps --core and --no-core to the library's `core` option. */
function coreOption(options: OptionValues): boolean | undefined {
  if (options.core === true) return true;
  if (options["no-core"] === true) return false;
  return undefined;
}

function text(options: OptionValues, name: string): string | undefined {
  const value = options[name];
  return typeof value === "string" ? value : undefined;
}

function requirePidfile(options: OptionValues, sub: SubcommandDef): string {
  const pidfile = text(options, "pidfile");
  if (pidfile === undefined || pidfile === "") throw usageError(`tinyd ${sub.name} needs -p FILE, the daemon's pidfile`);
  return pidfile;
}

function parseSeconds(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (value.trim() === "" || !Number.isFinite(seconds) || seconds < 0) {
    throw usageError(`invalid ${option} '${value}': expected a number of seconds, 0 or more`, { [option]: value });
  }
  return seconds;
}

function parseWaitReady(value: string | boolean | string[] | undefined): boolean | number | undefined {
  if (value === undefined || value === true) return value;
  return parseSeconds(String(value), "--wait-ready");
}

function parseNotifyFd(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw usageError(`invalid --notify-fd '${value}': expected a descriptor number, such as 3`, { notifyFd: value });
  return Number(value);
}

async function runStart(options: OptionValues, command: string[]): Promise<number> {
  const daemonOptions: DaemonOptions = {
    pidfile: text(options, "pidfile"),
    cwd: text(options, "cwd"),
    noChdir: options["no-chdir"] === true,
    output: text(options, "output"),
    stdout: text(options, "stdout"),
    stderr: text(options, "stderr"),
    umask: text(options, "umask"),
    env: (options.env as string[] | undefined) ?? [],
    clearEnv: options["clear-env"] === true,
    noClose: options["no-close"] === true,
    keepSignals: options["keep-signals"] === true,
    foreground: options.foreground === true,
    // Privileges and resources.
    user: text(options, "user"),
    group: text(options, "group"),
    keepEnv: options["keep-env"] === true,
    chroot: text(options, "chroot"),
    nice: text(options, "nice"),
    limits: (options.limit as string[] | undefined) ?? [],
    core: coreOption(options),
    envFile: (options["env-file"] as string[] | undefined) ?? [],
    // Readiness
    waitReady: parseWaitReady(options["wait-ready"]),
    notifyFd: parseNotifyFd(text(options, "notify-fd")),
  };
  if (options.c === true && daemonOptions.noChdir) throw usageError("-c and --no-chdir contradict each other: give one of them");
  if (options.core === true && options["no-core"] === true) throw usageError("--core and --no-core contradict each other: give one of them");
  if (options.f === true && daemonOptions.noClose) throw usageError("-f and --no-close contradict each other: give one of them");
  if (options.quiet === true && options.verbose === true) throw usageError("-q and -v contradict each other: give one of them");

  // Each subcommand loads only its own modules, to keep start-up short.
  const { spawnDaemon } = await import("../start");
  const daemon = await spawnDaemon(command, { ...daemonOptions, ...supervisionOptions(options) });
  if (options.verbose === true) output(String(daemon.pid));
  return ExitCode.OK;
}

async function runStop(options: OptionValues, sub: SubcommandDef): Promise<number> {
  const pidfile = requirePidfile(options, sub);
  const { stopDaemon } = await import("../control");
  const result = await stopDaemon(pidfile, {
    signal: text(options, "signal"),
    timeout: parseSeconds(text(options, "timeout"), "timeout"),
    kill: options.kill === true,
  });
  if (!result.wasRunning) {
    log.info(`not running (${pidfile})`);
    return ExitCode.OK;
  }
  if (!result.stopped) {
    log.error(`pid ${result.pid} did not exit in time (${pidfile}); use --kill to send SIGKILL after the timeout`);
    return ExitCode.FAILURE;
  }
  const what = result.supervised ? `the service of supervisor pid ${result.pid}` : `pid ${result.pid}`;
  log.info(result.killed ? `killed ${what} with SIGKILL (${pidfile})` : `stopped ${what} (${pidfile})`);
  return ExitCode.OK;
}

async function runStatus(options: OptionValues, sub: SubcommandDef): Promise<number> {
  const pidfile = requirePidfile(options, sub);
  const { daemonStatus } = await import("../control");
  const status = daemonStatus(pidfile);

  if (options.quiet === true) return status.code;
  if (options.json === true) {
    const { code: _code, ...fields } = status;
    output(JSON.stringify(fields));
    return status.code;
  }
  const supervisor = status.supervisor;
  const supervised = supervisor ? ` (supervisor pid ${supervisor.pid}, ${describeRestarts(supervisor)})` : "";
  switch (status.state) {
    case "running":
      output(`running as pid ${status.pid}${status.startedAt ? ` since ${status.startedAt}` : ""}${status.command ? `: ${status.command.join(" ")}` : ""}${supervised}`);
      break;
    case "starting":
      output(`starting (${pidfile} is locked and has no pid yet)${supervised}`);
      break;
    case "restarting":
      output(`restarting: the child has exited and the supervisor waits to start it again${supervised}`);
      break;
    case "dead":
      output(`dead: ${pidfile} exists but is not locked${status.pid ? `, so the daemon it names, pid ${status.pid}, has exited` : ""}`);
      break;
    case "stopped":
      if (status.endReason && supervisor) {
        output(`not running: the supervisor gave up: ${status.endReason} (${describeRestarts(supervisor)})`);
      } else {
        output(`not running (no pidfile at ${pidfile})`);
      }
      break;
    case "unknown":
      output(`unknown: ${status.error}`);
      break;
  }
  return status.code;
}

function describeRestarts(supervisor: NonNullable<DaemonStatus["supervisor"]>): string {
  const restarts = `${supervisor.restarts} ${supervisor.restarts === 1 ? "restart" : "restarts"}`;
  const last = supervisor.lastExit;
  if (last === null) return restarts;
  return `${restarts}, last exit ${last.signal !== null ? `by ${last.signal}` : `with status ${last.code}`}`;
}

async function runSignal(options: OptionValues, sub: SubcommandDef, signal: string): Promise<number> {
  const pidfile = requirePidfile(options, sub);
  const { signalDaemon } = await import("../control");
  const result = signalDaemon(pidfile, signal);
  log.info(`sent signal ${signal} to pid ${result.pid} (${pidfile})`);
  return ExitCode.OK;
}

async function runService(options: OptionValues, positionals: string[], command: string[]): Promise<number> {
  // Loaded on demand: the launch path does not need it.
  const { serviceFile } = await import("../service");
  writeSync(1, serviceFile(options, positionals, command, VERSION_STRING));
  return ExitCode.OK;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const { subcommand, options, positionals, command } = parseCommandLine(argv);
    if (options.quiet === true) log.level = LOG_LEVEL_QUIET;

    if (options.help === true) {
      output(renderHelp(subcommand, VERSION_STRING));
      return ExitCode.OK;
    }
    if (options.version === true) {
      output(`tinyd ${VERSION_STRING}`);
      return ExitCode.OK;
    }

    switch (subcommand.name) {
      case "start":
        return await runStart(options, command);
      case "stop":
        return await runStop(options, subcommand);
      case "status":
        return await runStatus(options, subcommand);
      case "signal":
        return await runSignal(options, subcommand, positionals[0]!);
      case "reload":
        return await runSignal(options, subcommand, "HUP");
      case "service":
        return await runService(options, positionals, command);
      default:
        throw new TinydError("E_INTERNAL", `internal error: no handler for subcommand ${subcommand.name}`, ExitCode.SOFTWARE);
    }
  } catch (error) {
    if (error instanceof TinydError) {
      // consola prints errors at every level, so --quiet keeps them.
      log.error(error.message);
      return error.exitCode;
    }
    log.error(`internal error: ${(error as Error)?.stack ?? String(error)}`);
    return ExitCode.SOFTWARE;
  }
}
