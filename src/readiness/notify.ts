/**
 * The daemon's end of readiness: notify() reports READY=1, STATUS= and the
 * rest to the process manager that started it, over NOTIFY_SOCKET (tinyd, systemd
 * Type=notify) or the notification descriptor (tinyd --notify-fd, s6), and
 * does nothing when neither is present, as in the foreground.
 */
import { closeSync, writeSync } from "node:fs";
import { monotonicNanoseconds, PosixError } from "../posix/libc";
import { sendDatagram } from "../posix/socket";
import { NOTIFY_FD_ENV } from "./notify-fd";
import { NOTIFY_SOCKET_ENV } from "./sd-notify";

/** The states notify() can report, as sd_notify(3) names them. */
export interface NotifyFields {
  /** READY=1: start-up is finished, or a reload is. */
  ready?: boolean;
  /** STATUS=: a one-line description of what the daemon is doing. */
  status?: string;
  /** STOPPING=1: the daemon has begun to shut down. */
  stopping?: boolean;
  /** RELOADING=1: the daemon reloads its configuration; send `ready` when done. MONOTONIC_USEC= is added. */
  reloading?: boolean;
  /** MAINPID=: another process is now the daemon's main process. */
  mainPid?: number;
  /** ERRNO=: the errno-style reason the daemon fails. */
  errno?: number;
  /** EXTEND_TIMEOUT_USEC=: ask for this many more microseconds before the start-up timeout. */
  extendTimeoutUsec?: number;
}

/** A message as KEY=VALUE lines ("READY=1\nSTATUS=up"), or as fields. */
export type NotifyState = string | NotifyFields;

/**
 * Socket address kept after READY=1 has removed NOTIFY_SOCKET from the
 * environment, because this process may still report STATUS= and STOPPING=1
 * while the processes it starts later must not find the socket.
 */
let rememberedSocket: string | null = null;
/** The notification descriptor carries one newline only; it is closed after READY=1. */
let fdClosed = false;

function monotonicMicroseconds(): bigint {
  return monotonicNanoseconds() / 1000n;
}

function encode(state: NotifyState): string {
  if (typeof state === "string") {
    if (/^RELOADING=1$/m.test(state) && !/^MONOTONIC_USEC=/m.test(state)) return `${state}\nMONOTONIC_USEC=${monotonicMicroseconds()}`;
    return state;
  }
  const lines: string[] = [];
  if (state.reloading) lines.push("RELOADING=1", `MONOTONIC_USEC=${monotonicMicroseconds()}`);
  if (state.ready) lines.push("READY=1");
  if (state.stopping) lines.push("STOPPING=1");
  if (state.status !== undefined) lines.push(`STATUS=${state.status.replace(/\n/g, " ")}`);
  if (state.mainPid !== undefined) lines.push(`MAINPID=${state.mainPid}`);
  if (state.errno !== undefined) lines.push(`ERRNO=${state.errno}`);
  if (state.extendTimeoutUsec !== undefined) lines.push(`EXTEND_TIMEOUT_USEC=${Math.round(state.extendTimeoutUsec)}`);
  return lines.join("\n");
}

function socketPath(): string | null {
  const fromEnv = process.env[NOTIFY_SOCKET_ENV];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!fromEnv.startsWith("/") && !fromEnv.startsWith("@")) {
      throw new RangeError(`invalid NOTIFY_SOCKET '${fromEnv}': expected an absolute path or an @abstract name`);
    }
    return fromEnv;
  }
  return rememberedSocket;
}

function notificationFd(): number | null {
  if (fdClosed) return null;
  const fromEnv = process.env[NOTIFY_FD_ENV];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!/^\d+$/.test(fromEnv) || Number(fromEnv) < 3) throw new RangeError(`invalid ${NOTIFY_FD_ENV} '${fromEnv}': expected a descriptor number, 3 or more`);
    return Number(fromEnv);
  }
  return null;
}

/**
 * Tells whether an error means that no listener is left, as after tinyd
 * removed its socket once the daemon was ready.
 * NOTE: where the call cannot report errno (no compiler), every failed send counts as this.
 */
function listenerGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ECONNREFUSED" || code === "EPIPE" || code === "ENOTSOCK" || code === "EBADF" || code === "UNKNOWN";
}

/**
 * Reports the daemon's state to the process that started it: tinyd, systemd
 * with Type=notify, or s6. Returns true when a listener received the message,
 * and false when there is none (run in the foreground, or the listener has
 * stopped listening). Throws a PosixError when sending fails otherwise, and a
 * RangeError when NOTIFY_SOCKET or TINYD_NOTIFY_FD is malformed.
 *
 * After READY=1 the process no longer passes readiness on: NOTIFY_SOCKET and
 * TINYD_NOTIFY_FD leave process.env, and the notification descriptor is
 * closed. Later calls still reach the socket, because notify() keeps its
 * address. Bun.spawn without an `env` option passes on the environment the
 * process started with (measured with Bun 1.4.5), so give it
 * `env: process.env` to keep the variables from children; tinyd removes its
 * socket once the daemon is ready, so there they name nothing.
 *
 *     notify({ ready: true, status: "listening on 127.0.0.1:8080" });
 *     notify("STOPPING=1");
 */
export function notify(state: NotifyState): boolean {
  const text = encode(state);
  const ready = /^READY=1$/m.test(text);
  const path = socketPath();
  const fd = notificationFd();
  let delivered = false;
  let sent = false;

  if (path !== null) {
    try {
      sendDatagram(path, Buffer.from(text));
      sent = true;
      delivered = true;
    } catch (error) {
      if (!(error instanceof PosixError && listenerGone(error))) throw error;
      rememberedSocket = null;
    }
  }

  if (fd !== null && ready) {
    try {
      writeSync(fd, "\n");
      delivered = true;
    } catch (error) {
      if (!listenerGone(error)) throw error;
    } finally {
      fdClosed = true;
      try {
        closeSync(fd);
      } catch {
        // Already closed by the program itself.
      }
    }
  }

  if (ready) {
    if (sent) rememberedSocket = path;
    delete process.env[NOTIFY_SOCKET_ENV];
    delete process.env[NOTIFY_FD_ENV];
  }
  return delivered;
}
