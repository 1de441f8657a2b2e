/**
 * Turning the running Bun script into a daemon.
 *
 * Bun cannot fork a process that runs JavaScript, so daemonize() starts the
 * script again through the core launch (spawnDaemon), with the same
 * executable and arguments and a marker in the environment. The new process
 * finds the marker, becomes the daemon and reports readiness, while the
 * original process waits for that report and exits.
 */
import { closeSync, constants as fs, fstatSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { basename, isAbsolute, join, resolve } from "node:path";
import { ExitCode, TinydError, usageError } from "./errors";
import { type DaemonOptions, planStart } from "./options";
import { constants } from "./posix/constants";
import { dup2 } from "./posix/libc";
import { notify } from "./readiness/notify";
import { spawnDaemon } from "./start";
import { isCompiled } from "./self";

/** Options of daemonize(); every option of spawnDaemon applies to the daemon the same way. */
export interface DaemonizeOptions extends Omit<DaemonOptions, "waitReady" | "notifyFd"> {
  /**
   * When the daemon counts as ready: "auto" (the default) when daemonize()
   * resolves in it, "manual" when it calls `ready()`, for example once its
   * server listens.
   */
  ready?: "auto" | "manual";
  /** Seconds the original process waits for readiness before it stops the daemon and fails. Default: 60; 0 waits without a limit. */
  readyTimeout?: number;
  /** The same as `keepSignals`: keep ignored signals and the signal mask. */
  keepSignalHandlers?: boolean;
}

/** The running daemon, as daemonize() returns it in the daemon process. */
export interface Daemon {
  /** The daemon's pid, which the pidfile holds. */
  readonly pid: number;
  /** Absolute path of the pidfile, or null without one. */
  readonly pidfile: string | null;
  /** Reports readiness (READY=1), with an optional status line; calls after the first do nothing. */
  ready(status?: string): void;
  /** Sends a status line (STATUS=) to tinyd or systemd, whichever started the daemon; without either it does nothing. */
  notify(status: string): void;
  /**
   * Runs `handler` on SIGTERM or SIGINT. Once the first handler is added,
   * such a signal sends STOPPING=1, runs every handler in the order they
   * were added, removes the pidfile, and exits with 0, or with 1 when a
   * handler threw. A second signal during that exits at once. Returns a
   * function that removes the handler.
   */
  onStop(handler: (signal: NodeJS.Signals) => void | Promise<void>): () => void;
}

/**
 * Marker that identifies the re-run script as the daemon. Its value is the
 * path of a private file containing a DaemonMarker as JSON, which the daemon
 * deletes as it reads it. Bun.spawn without an `env` option passes on the
 * environment the process started with, whatever changes process.env has seen since
 * (measured with Bun 1.4.5), so a child of the daemon may inherit the
 * variable, but it finds the file gone and runs as an ordinary script.
 */
export const DAEMONIZE_ENV = "TINYD_DAEMONIZE";
const MARKER_MODE = 0o600;

interface DaemonMarker {
  /** Directory the daemon changes to inside daemonize(); null keeps the original one. */
  cwd: string | null;
  /** True when stderr is a private capture file until readiness, to be replaced with /dev/null then. */
  captureStderr: boolean;
}

/** Reads and deletes the marker file; only the first process to do so is the daemon. */
function claimMarker(path: string | undefined): DaemonMarker | null {
  if (path === undefined || !isAbsolute(path)) return null;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
    unlinkSync(path);
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as Partial<DaemonMarker>;
    return { cwd: typeof parsed.cwd === "string" ? parsed.cwd : null, captureStderr: parsed.captureStderr === true };
  } catch {
    return null;
  }
}

// Claimed when the module loads, before the script can start a process
// that would inherit the marker and take itself for the daemon.
const marker = claimMarker(process.env[DAEMONIZE_ENV]);
delete process.env[DAEMONIZE_ENV];
let daemonized = false;

/**
 * Returns the command that runs this script again. In a compiled binary
 * process.argv[0] is the literal "bun" and argv[1] the virtual /$bunfs/ entry,
 * so the binary itself runs with the arguments after those two.
 */
export function selfCommand(): string[] {
  if (isCompiled()) return [process.execPath, ...process.argv.slice(2)];
  return [process.execPath, ...process.execArgv, Bun.main, ...process.argv.slice(2)];
}

function programName(): string {
  return basename(isCompiled() ? process.execPath : Bun.main);
}

function envEntries(env: DaemonOptions["env"]): string[] {
  if (env === undefined) return [];
  if (Array.isArray(env)) return [...(env as readonly string[])];
  return Object.entries(env as Record<string, string>).map(([key, value]) => `${key}=${value}`);
}

/** True when the launch will capture the daemon's stderr to a private file until it is ready. */
function capturesStderr(options: DaemonizeOptions): boolean {
  return options.output === undefined && options.stderr === undefined && !options.noClose && !options.foreground;
}

/**
 * Starts the script again as the daemon, then exits: 0 once it is ready,
 * otherwise its error's status.
 *
 * The daemon starts in this process's working directory and changes to
 * `cwd` inside daemonize(), so that the code before the call runs in the same
 * directory in both runs and resolves relative paths the same way.
 */
async function launchSelf(options: DaemonizeOptions): Promise<never> {
  const { ready: _ready, readyTimeout, keepSignalHandlers, cwd: _cwd, noChdir: _noChdir, ...daemonOptions } = options;
  let markerDirectory: string | null = null;
  try {
    const command = selfCommand();
    const { cwd } = planStart(command, { cwd: options.cwd, noChdir: options.noChdir });
    const daemonMarker: DaemonMarker = { cwd, captureStderr: capturesStderr(options) };
    markerDirectory = mkdtempSync(join(tmpdir(), "tinyd-daemonize-"));
    const markerPath = join(markerDirectory, "marker");
    writeFileSync(markerPath, JSON.stringify(daemonMarker), { mode: MARKER_MODE, flag: "wx" });

    await spawnDaemon(command, {
      ...daemonOptions,
      noChdir: true,
      keepSignals: options.keepSignals ?? keepSignalHandlers,
      env: [...envEntries(options.env), `${DAEMONIZE_ENV}=${markerPath}`],
      // In the foreground the script replaces this process, so no process is left to wait.
      waitReady: options.foreground ? undefined : (readyTimeout ?? true),
    });
    removeDirectory(markerDirectory);
    process.exit(ExitCode.OK);
  } catch (error) {
    removeDirectory(markerDirectory);
    const message = error instanceof TinydError ? error.message : `internal error: ${(error as Error)?.stack ?? String(error)}`;
    writeSync(2, `${programName()}: ${message}\n`);
    process.exit(error instanceof TinydError ? error.exitCode : ExitCode.SOFTWARE);
  }
}

function removeDirectory(path: string | null): void {
  if (path !== null) rmSync(path, { recursive: true, force: true });
}

/** Removes the pidfile if this process has it open, which proves it is still this daemon's. */
function removeOwnPidfile(path: string): void {
  let named;
  try {
    named = lstatSync(path);
  } catch {
    return;
  }
  const directory = process.platform === "linux" ? "/proc/self/fd" : "/dev/fd";
  for (const entry of readdirSync(directory)) {
    const fd = Number(entry);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    try {
      const opened = fstatSync(fd);
      if (opened.dev === named.dev && opened.ino === named.ino) {
        unlinkSync(path);
        return;
      }
    } catch {
      // The listing's own descriptor, closed by now.
    }
  }
}

class RunningDaemon implements Daemon {
  readonly pid = process.pid;
  private isReady = false;
  private stopHandlers: ((signal: NodeJS.Signals) => void | Promise<void>)[] = [];
  private stopping = false;
  private listening = false;

  constructor(
    readonly pidfile: string | null,
    private readonly stderrCaptured: boolean,
  ) {}

  ready(status?: string): void {
    if (this.isReady) return;
    this.isReady = true;
    notify(status === undefined ? { ready: true } : { ready: true, status });
    // The launcher removes the capture file once the daemon is ready; later output would only fill an unlinked file.
    if (this.stderrCaptured) {
      const devNull = openSync("/dev/null", fs.O_WRONLY | constants.O_CLOEXEC);
      dup2(devNull, 2);
      closeSync(devNull);
    }
  }

  notify(status: string): void {
    notify({ status });
  }

  onStop(handler: (signal: NodeJS.Signals) => void | Promise<void>): () => void {
    this.stopHandlers.push(handler);
    if (!this.listening) {
      this.listening = true;
      process.on("SIGTERM", this.stop);
      process.on("SIGINT", this.stop);
    }
    return () => {
      this.stopHandlers = this.stopHandlers.filter((known) => known !== handler);
    };
  }

  /** Removes the pidfile while this daemon still has it open. */
  removePidfile(): void {
    if (this.pidfile !== null) removeOwnPidfile(this.pidfile);
  }

  private readonly stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (this.stopping) process.exit(128 + (osConstants.signals[signal] ?? 0));
    this.stopping = true;
    try {
      notify({ stopping: true });
    } catch {
      // No listener: the stop goes on.
    }

    let status: number = ExitCode.OK;
    for (const handler of [...this.stopHandlers]) {
      try {
        await handler(signal);
      } catch (error) {
        writeSync(2, `${(error as Error)?.stack ?? String(error)}\n`);
        status = ExitCode.FAILURE;
      }
    }
    this.removePidfile();
    process.exit(status);
  };
}

/**
 * Makes the running script a daemon, the way `tinyd -- bun script.ts`
 * would, and resolves in the daemon with its handle.
 *
 * The script runs twice: the original process starts it again through the
 * core launch (same executable, script and arguments, from source and from
 * a `bun build --compile` binary alike), waits until the new process
 * reports ready, and exits 0. When the daemon exits first or the time runs
 * out, the original process prints why, with the daemon's last lines on
 * stderr, and exits non-zero (69 and 75, as `tinyd --wait-ready` does), and
 * its promise never settles. So code before the call runs in both
 * processes; keep it free of side effects, or put it after the call.
 *
 * Code before the call runs in the caller's working directory in both
 * processes. Inside daemonize() the daemon changes to "/", or to `cwd`, or
 * stays with `noChdir`, so resolve relative paths before the call.
 *
 *     const daemon = await daemonize({ pidfile: "/run/app.pid", ready: "manual" });
 *     const server = Bun.serve({ hostname: "127.0.0.1", port: 8080, fetch: () => new Response("ok") });
 *     daemon.onStop(() => server.stop());
 *     daemon.ready(`listening on ${server.url}`);
 *
 * Throws a TinydError with E_USAGE when called twice in the daemon.
 */
export async function daemonize(options: DaemonizeOptions = {}): Promise<Daemon> {
  if (marker === null) return launchSelf(options);
  if (daemonized) throw usageError("daemonize() was called twice: call it once, at start-up");
  daemonized = true;

  const pidfile = options.pidfile === undefined ? null : resolve(options.pidfile);
  if (marker.cwd !== null) process.chdir(marker.cwd);
  const daemon = new RunningDaemon(pidfile, marker.captureStderr);
  if ((options.ready ?? "auto") === "auto") daemon.ready();
  return daemon;
}

/** Options of runDaemon(): those of daemonize(), with a pidfile required. */
export interface RunDaemonOptions extends DaemonizeOptions {
  pidfile: string;
  /** Exit the daemon with main's status once it settles. Default: true; false resolves with the status instead. */
  exit?: boolean;
}

/**
 * Runs `main` as a daemon. When the pidfile is locked, the original process
 * exits 1 with "already running" (E_ALREADY_RUNNING) and nothing starts.
 * Otherwise it daemonizes, runs `main`, removes the pidfile when `main`
 * settles, and exits with the number `main` returns. Any other result exits
 * 0, and a thrown error is printed to stderr and exits 1.
 *
 * As with daemonize(), code before the call runs twice. With `exit: false`
 * the daemon resolves with the status instead of exiting.
 */
export async function runDaemon(main: (daemon: Daemon) => unknown, options: RunDaemonOptions): Promise<number> {
  if (typeof options?.pidfile !== "string" || options.pidfile === "") {
    throw usageError("runDaemon() needs options.pidfile: the pidfile keeps a second instance from starting");
  }
  const { exit = true, ...daemonizeOptions } = options;
  const daemon = (await daemonize(daemonizeOptions)) as RunningDaemon;

  let status: number;
  try {
    const result = await main(daemon);
    status = typeof result === "number" && Number.isInteger(result) ? result : ExitCode.OK;
  } catch (error) {
    writeSync(2, `${(error as Error)?.stack ?? String(error)}\n`);
    status = ExitCode.FAILURE;
  }

  daemon.removePidfile();
  if (exit) process.exit(status);
  return status;
}
