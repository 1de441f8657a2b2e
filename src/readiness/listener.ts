/**
 * Waiting for a daemon to report that it is ready, over both protocols at
 * once: systemd's NOTIFY_SOCKET and s6's notification descriptor.
 *
 * A launcher or supervisor opens a listener before it starts the daemon,
 * gives the launch the listener's `environment` and `inheritedFd`, calls
 * `launched()` right after the launch, then `wait()`s. The listener polls
 * without blocking the event loop, so one process can wait for many
 * daemons at once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants } from "../posix/constants";
import { kill, PosixError } from "../posix/libc";
import { isAlive } from "../proc";
import { MAX_NOTIFY_FD, MIN_NOTIFY_FD, NOTIFY_FD_ENV, NotifyPipe } from "./notify-fd";
import { NOTIFY_SOCKET_ENV, NotifySocket, type SocketOwner } from "./sd-notify";

export interface ListenerOptions {
  /** Create a NOTIFY_SOCKET for sd_notify. Default: true. */
  notifySocket?: boolean;
  /** Give the daemon the write end of a pipe at this descriptor (s6's notification-fd). Default: none. */
  notifyFd?: number | null;
  /** Owner of the socket and its directory, for a daemon that runs as another user. */
  owner?: SocketOwner;
}

/** Readiness reports received from the daemon so far. */
export interface ReadinessState {
  ready: boolean;
  /** The protocol that delivered READY=1 or the newline. */
  readyBy: "sd_notify" | "notify-fd" | null;
  /** The last STATUS= text. */
  status: string | null;
  /** The last MAINPID=, when the daemon named another process as the main one. */
  mainPid: number | null;
  /** The last ERRNO=, the daemon's own account of why it fails. */
  errno: number | null;
  /** The daemon sent STOPPING=1. */
  stopping: boolean;
  /** The daemon sent RELOADING=1 and has not sent READY=1 since. */
  reloading: boolean;
}

export type WaitOutcome =
  | { outcome: "ready"; state: ReadinessState }
  | { outcome: "exited"; state: ReadinessState }
  | { outcome: "timeout"; state: ReadinessState; waitedMs: number }
  | { outcome: "aborted"; state: ReadinessState };

export interface WaitOptions {
  /** Give up after this many milliseconds; null waits without a limit. EXTEND_TIMEOUT_USEC= can push the limit out. */
  timeoutMs: number | null;
  /** The daemon's pid, polled to notice that it exited (a launcher's daemon is not its child). MAINPID= replaces it. */
  pid?: number;
  /** Settles when the daemon exits, for a supervisor that waits for its child anyway. */
  exited?: Promise<unknown>;
  /** Called with each STATUS= text as it arrives. */
  onStatus?: (status: string) => void;
  /** Stops the wait with the outcome "aborted". */
  signal?: AbortSignal;
}

/** The first polls come quickly, because most daemons are ready within milliseconds; later ones back off. */
const FIRST_POLL_MS = 2;
const MAX_POLL_MS = 50;

/** Parses a positive integer field such as MAINPID=, or returns null. */
function positiveInteger(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,10}$/.test(value)) return null;
  const number = Number(value);
  return number > 0 && number <= 0x7fffffff ? number : null;
}

/**
 * Tells whether a process has exited. On Linux a zombie counts as exited. Elsewhere
 * kill(pid, 0) is used, because spawning ps(1) on every poll costs too much.
 * NOTE: outside Linux a zombie counts as running until it is reaped.
 */
function hasExited(pid: number): boolean {
  if (process.platform === "linux") return !isAlive(pid);
  try {
    kill(pid, 0);
    return false;
  } catch (error) {
    return error instanceof PosixError && error.code === "ESRCH";
  }
}

export function validateNotifyFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < MIN_NOTIFY_FD || fd > MAX_NOTIFY_FD) {
    throw new RangeError(`invalid notification descriptor ${fd}: expected a whole number from ${MIN_NOTIFY_FD} to ${MAX_NOTIFY_FD}`);
  }
}

export class ReadinessListener {
  readonly state: ReadinessState = { ready: false, readyBy: null, status: null, mainPid: null, errno: null, stopping: false, reloading: false };
  /** Extra time granted by EXTEND_TIMEOUT_USEC=, as a performance.now() deadline. */
  private extendedUntil = 0;

  private constructor(
    /** Private directory (mode 0700) that contains the socket; null without a socket. */
    readonly directory: string | null,
    private socket: NotifySocket | null,
    private pipe: NotifyPipe | null,
  ) {}

  /** Creates the socket and the pipe. Call close() when done, also after a failed launch. */
  static open(options: ListenerOptions = {}): ReadinessListener {
    const wantSocket = options.notifySocket ?? true;
    const notifyFd = options.notifyFd ?? null;
    if (notifyFd !== null) validateNotifyFd(notifyFd);

    let directory: string | null = null;
    let socket: NotifySocket | null = null;
    try {
      if (wantSocket) {
        directory = privateDirectory();
        socket = NotifySocket.bind(directory, options.owner);
      }
      const pipe = notifyFd === null ? null : NotifyPipe.create(notifyFd);
      return new ReadinessListener(directory, socket, pipe);
    } catch (error) {
      socket?.close();
      if (directory !== null) rmSync(directory, { recursive: true, force: true });
      throw error;
    }
  }

  /** Variables to add to the daemon's environment: NOTIFY_SOCKET, and TINYD_NOTIFY_FD with a pipe. */
  get environment(): Record<string, string> {
    const env: Record<string, string> = {};
    if (this.socket) env[NOTIFY_SOCKET_ENV] = this.socket.path;
    if (this.pipe) env[NOTIFY_FD_ENV] = String(this.pipe.target);
    return env;
  }

  /** The pipe's write end and the number the daemon must get it at, or null without a pipe. */
  get inheritedFd(): { source: number; target: number } | null {
    if (!this.pipe || this.pipe.source < 0) return null;
    return { source: this.pipe.source, target: this.pipe.target };
  }

  /** Closes the launcher's copy of the pipe's write end; call it once the daemon has been started. */
  launched(): void {
    this.pipe?.closeWriteEnd();
  }

  /**
   * Reads every pending message without waiting, updates `state`, and
   * returns the STATUS= texts that arrived. A supervisor can keep calling it
   * after readiness to follow the daemon's status.
   */
  poll(): string[] {
    const statuses: string[] = [];
    for (const fields of this.socket?.receive() ?? []) {
      const status = fields.get("STATUS");
      if (status !== undefined) {
        this.state.status = status;
        statuses.push(status);
      }
      const mainPid = positiveInteger(fields.get("MAINPID"));
      if (mainPid !== null) this.state.mainPid = mainPid;
      const errno = fields.get("ERRNO");
      if (errno !== undefined && /^\d+$/.test(errno)) this.state.errno = Number(errno);
      const extendUsec = fields.get("EXTEND_TIMEOUT_USEC");
      if (extendUsec !== undefined && /^\d+$/.test(extendUsec)) {
        this.extendedUntil = Math.max(this.extendedUntil, performance.now() + Number(extendUsec) / 1000);
      }
      if (fields.get("STOPPING") === "1") this.state.stopping = true;
      if (fields.get("RELOADING") === "1") this.state.reloading = true;
      if (fields.get("READY") === "1") {
        this.state.reloading = false;
        this.markReady("sd_notify");
      }
    }
    if (this.pipe?.check() === "ready") {
      this.markReady("notify-fd");
      // s6 reads one newline only; the daemon closes its end afterwards.
      this.pipe.close();
      this.pipe = null;
    }
    return statuses;
  }

  private markReady(by: "sd_notify" | "notify-fd"): void {
    if (this.state.ready) return;
    this.state.ready = true;
    this.state.readyBy = by;
  }

  /**
   * Waits until the daemon reports ready, exits, or the time runs out.
   * Messages sent just before an exit are still read, so an ERRNO= or a
   * READY=1 that raced with the exit is not lost.
   */
  async wait(options: WaitOptions): Promise<WaitOutcome> {
    const started = performance.now();
    let exited = false;
    void options.exited?.then(
      () => {
        exited = true;
      },
      () => {
        exited = true;
      },
    );
    let interval = FIRST_POLL_MS;

    for (;;) {
      const finished = exited || (options.pid !== undefined && hasExited(this.state.mainPid ?? options.pid));
      for (const status of this.poll()) options.onStatus?.(status);
      if (this.state.ready) return { outcome: "ready", state: this.state };
      if (finished) return { outcome: "exited", state: this.state };
      if (options.signal?.aborted) return { outcome: "aborted", state: this.state };

      const now = performance.now();
      if (options.timeoutMs !== null && now - started >= options.timeoutMs && now >= this.extendedUntil) {
        return { outcome: "timeout", state: this.state, waitedMs: now - started };
      }
      await Bun.sleep(interval);
      interval = Math.min(interval * 2, MAX_POLL_MS);
    }
  }

  /** Stops listening: closes the socket and the pipe and removes the private directory. */
  close(): void {
    this.socket?.close();
    this.socket = null;
    this.pipe?.close();
    this.pipe = null;
    if (this.directory !== null) rmSync(this.directory, { recursive: true, force: true });
  }
}

/**
 * Creates the directory for the socket, mode 0700 (mkdtemp's mode). A
 * socket path must fit sockaddr_un, and a long TMPDIR (macOS has one)
 * may not leave room, so /tmp is the second choice.
 */
function privateDirectory(): string {
  const room = constants.SUN_PATH_BYTES - 1;
  const longest = "/tinyd-ready-XXXXXX/notify".length;
  for (const base of [tmpdir(), "/tmp"]) {
    if (Buffer.byteLength(base) + longest <= room) return mkdtempSync(join(base, "tinyd-ready-"));
  }
  throw new RangeError(`cannot create the readiness socket: the temporary directory ${tmpdir()} makes its path longer than ${room} bytes. Set TMPDIR to a shorter path`);
}
