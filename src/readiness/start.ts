/**
 * Readiness for one start (`tinyd --wait-ready`, `spawnDaemon({ waitReady })`):
 * everything the launch must give the daemon, the wait, and the cleanup
 * when the daemon exits first or the time runs out.
 */
import { closeSync, constants as fs, fstatSync, ftruncateSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { basename, join } from "node:path";
import { ExitCode, TinydError } from "../errors";
import type { ReadinessPlan } from "../options";
import type { PidfileLock } from "../pidfile";
import { constants } from "../posix/constants";
import { strerror } from "../posix/libc";
import { processGroup, terminateProcessGroups } from "../process-group";
import { ReadinessListener, type ReadinessState } from "./listener";
import type { Credentials } from "../launch/request";
import { NOTIFY_FD_ENV } from "./notify-fd";
import { NOTIFY_SOCKET_ENV, type SocketOwner } from "./sd-notify";

/** Result of a successful wait. */
export interface ReadyDaemon {
  /** The daemon's pid, or the one it named with MAINPID=. */
  pid: number;
  readyBy: ReadinessState["readyBy"];
  status: string | null;
}

/** Lines of the daemon's stderr that a failure message quotes. */
const TAIL_LINES = 20;
const TAIL_BYTES = 8192;
const CAPTURE_MODE = 0o600;

/** File that the daemon's stderr can be read back from after a failure. */
interface StderrSource {
  path: string;
  /** Size of the file before the start: only what comes after it is the daemon's. */
  offset: number;
  /** True for the private file that replaces /dev/null until readiness. */
  captured: boolean;
}

export class StartReadiness {
  private constructor(
    private readonly plan: ReadinessPlan,
    private readonly listener: ReadinessListener,
    /** The private capture file's descriptor, to become the daemon's stderr; null when the daemon has one. */
    readonly stderrFd: number | null,
    private readonly stderrSource: StderrSource | null,
  ) {}

  /**
   * Opens the listener. A daemon whose stderr would go to /dev/null writes it
   * to a private file instead until it is ready, so that a failure can quote
   * it. A daemon with an stderr file of its own is quoted from that file.
   */
  static prepare(plan: ReadinessPlan, stderrPath: string | null, stderrKept: boolean, owner?: SocketOwner): StartReadiness {
    const listener = ReadinessListener.open({ notifyFd: plan.notifyFd, owner });
    try {
      if (stderrPath !== null) return new StartReadiness(plan, listener, null, { path: stderrPath, offset: regularFileSize(stderrPath), captured: false });
      if (stderrKept) return new StartReadiness(plan, listener, null, null);

      const path = join(listener.directory!, "stderr");
      const fd = openSync(path, fs.O_WRONLY | fs.O_APPEND | fs.O_CREAT | fs.O_EXCL | constants.O_CLOEXEC, CAPTURE_MODE);
      return new StartReadiness(plan, listener, fd, { path, offset: 0, captured: true });
    } catch (error) {
      listener.close();
      throw error;
    }
  }

  /** Returns the daemon's environment: `base` with the readiness variables set by tinyd alone. */
  environment(base: readonly string[]): string[] {
    return withReadinessEnvironment(base, this.listener);
  }

  get notifyFd(): { source: number; target: number } | null {
    return this.listener.inheritedFd;
  }

  /** Closes the launcher's copies of what the daemon inherited; call it right after the launch. */
  launched(): void {
    this.listener.launched();
    if (this.stderrFd !== null) closeSync(this.stderrFd);
  }

  /**
   * Waits until the daemon is ready. When it exits first or the time runs
   * out, stops its process group, empties the pidfile, and throws a
   * TinydError that quotes the daemon's last lines on stderr.
   */
  // NOTE: a launcher killed while it waits (SIGINT, SIGTERM, SIGKILL) leaves the daemon running and the private directory behind.
  async wait(pid: number, command: string, pidfile: PidfileLock | null): Promise<ReadyDaemon> {
    const launchGroup = processGroup(pid);
    const result = await this.listener.wait({ timeoutMs: this.plan.timeoutMs, pid });
    const state = result.state;

    if (result.outcome === "aborted") throw new TinydError("E_INTERNAL", "internal error: the readiness wait was aborted", ExitCode.SOFTWARE);
    if (result.outcome === "ready") {
      const mainPid = state.mainPid ?? pid;
      // MAINPID= names the process that stop and status must find from now on.
      if (pidfile !== null && mainPid !== pid) writePid(pidfile, mainPid);
      return { pid: mainPid, readyBy: state.readyBy, status: state.status };
    }

    const daemonPid = state.mainPid ?? pid;
    const who = `pid ${daemonPid} (${basename(command)})`;
    // After an exit the pid may already belong to another process, so only the groups are signalled.
    await terminateProcessGroups(result.outcome === "exited" ? null : daemonPid, [launchGroup, processGroup(daemonPid)]);
    if (pidfile !== null) ftruncateSync(pidfile.writeFd, 0);

    const reason =
      result.outcome === "exited"
        ? `${who} exited before it was ready`
        : `timed out after ${formatSeconds(result.waitedMs)} waiting for ${who} to be ready, and stopped it`;
    const sentences = [reason];
    if (state.errno !== null) sentences.push(`It reported ERRNO=${state.errno} (${strerror(state.errno)})`);
    if (state.status !== null) sentences.push(`Its last status was '${state.status}'`);
    const details = { pid: daemonPid, status: state.status, errno: state.errno, stderr: this.stderrTail() };
    const message = this.describeStderr(sentences, details.stderr);
    if (result.outcome === "exited") throw new TinydError("E_NOT_READY", message, ExitCode.UNAVAILABLE, details);
    throw new TinydError("E_TIMEOUT", message, ExitCode.TEMPORARY_FAILURE, details);
  }

  private stderrTail(): string[] {
    if (this.stderrSource === null) return [];
    return readTail(this.stderrSource.path, this.stderrSource.offset);
  }

  /** Joins the sentences of the message, and quotes the daemon's stderr after them. */
  private describeStderr(sentences: string[], tail: string[]): string {
    const source = this.stderrSource;
    if (source === null) return sentences.join(". ");
    const where = source.captured ? "stderr" : source.path;
    if (tail.length === 0) return [...sentences, `It wrote nothing to ${where}`].join(". ");
    const quoted = tail.map((line) => (line === "" ? "" : `  ${line}`));
    return `${[...sentences, `Its last lines on ${where}`].join(". ")}:\n${quoted.join("\n")}`;
  }

  /** Stops listening and removes the socket, the capture file and their directory. */
  close(): void {
    this.listener.close();
  }
}

/** Formats a duration to a tenth of a second: "60 s", "1.5 s". */
function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** Returns the size of a regular file, or 0 for anything else, whose content cannot be read back. */
function regularFileSize(path: string): number {
  try {
    const stat = statSync(path);
    return stat.isFile() ? stat.size : 0;
  } catch {
    return 0;
  }
}

/** Returns the last lines written to `path` after `offset`, at most TAIL_LINES of them. */
export function readTail(path: string, offset: number): string[] {
  let fd: number;
  try {
    fd = openSync(path, fs.O_RDONLY | fs.O_NONBLOCK | constants.O_CLOEXEC);
  } catch {
    return [];
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size <= offset) return [];
    const start = Math.max(offset, stat.size - TAIL_BYTES);
    const buffer = Buffer.alloc(stat.size - start);
    const length = readSync(fd, buffer, 0, buffer.length, start);
    const lines = buffer.subarray(0, length).toString("utf8").split("\n");
    // A cut first line is only part of a line; a final newline leaves an empty entry.
    if (start > offset) lines.shift();
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === "") lines.pop();
    return lines.slice(-TAIL_LINES);
  } finally {
    closeSync(fd);
  }
}

function writePid(pidfile: PidfileLock, pid: number): void {
  ftruncateSync(pidfile.writeFd, 0);
  writeSync(pidfile.writeFd, `${pid}\n`, 0);
}

/**
 * Returns the owner that the readiness socket needs for a daemon that runs
 * with other credentials, or undefined when it keeps tinyd's. Without it,
 * a daemon started with -u could not connect to its socket (mode 0600 in a
 * directory of mode 0700).
 */
export function socketOwner(credentials: Credentials | null): SocketOwner | undefined {
  if (credentials === null) return undefined;
  return { uid: credentials.uid ?? process.getuid!(), gid: credentials.gid };
}

/** Returns `base` with the readiness variables of `listener`, and no others of that name. */
export function withReadinessEnvironment(base: readonly string[], listener: ReadinessListener): string[] {
  const kept = base.filter((entry) => {
    const key = entry.slice(0, entry.indexOf("="));
    return key !== NOTIFY_SOCKET_ENV && key !== NOTIFY_FD_ENV;
  });
  return [...kept, ...Object.entries(listener.environment).map(([key, value]) => `${key}=${value}`)];
}
