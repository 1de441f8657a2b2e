/**
 * libc calls that return normally to JavaScript. Nothing here forks: that is
 * launch.c's job.
 *
 * Where bun:ffi can compile, each call goes through a small C wrapper that
 * returns -errno, because errno cannot be read reliably from JavaScript after
 * an FFI call. Elsewhere the call goes straight to libc through dlopen, and a
 * failure carries no errno (PosixError.errno is 0).
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { constants as osConstants } from "node:os";
import { type NativeLibrary, nativeLibraryIfAvailable } from "../native/compile";
import { constants } from "./constants";

function openLibc() {
  return dlopen(constants.libc, {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    kill: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    umask: { args: [FFIType.u32], returns: FFIType.u32 },
    setsid: { args: [], returns: FFIType.i32 },
    getpid: { args: [], returns: FFIType.i32 },
    getpgid: { args: [FFIType.i32], returns: FFIType.i32 },
    getsid: { args: [FFIType.i32], returns: FFIType.i32 },
    pipe: { args: [FFIType.ptr], returns: FFIType.i32 },
    sigprocmask: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    dup2: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    socketpair: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    strerror: { args: [FFIType.i32], returns: FFIType.cstring },
  }).symbols;
}

let libcSymbols: ReturnType<typeof openLibc> | undefined;
let wrappers: NativeLibrary | null | undefined;

function libc(): ReturnType<typeof openLibc> {
  libcSymbols ??= openLibc();
  return libcSymbols;
}

/** Initialises the C wrappers once and returns them, or null where they cannot be compiled. */
function native(): NativeLibrary | null {
  if (wrappers === undefined) {
    wrappers = nativeLibraryIfAvailable();
    if (wrappers && wrappers.tinyd_syscalls_init(BigInt(constants.rtldDefault)) !== 0) wrappers = null;
  }
  return wrappers;
}

export function strerror(errno: number): string {
  return String(libc().strerror(errno));
}

export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) {
    if (value === errno) return name;
  }
  return `errno ${errno}`;
}

/** A failed libc call, with errno, its symbolic name and the system's message. */
export class PosixError extends Error {
  override name = "PosixError";
  readonly code: string;

  constructor(
    readonly syscall: string,
    /** 0 when the platform's path cannot tell errno. */
    readonly errno: number,
  ) {
    super(errno === 0 ? `${syscall} failed` : `${syscall}: ${strerror(errno)}`);
    this.code = errno === 0 ? "UNKNOWN" : errnoName(errno);
  }
}

/**
 * Runs a call through its wrapper, which returns -errno on failure, or
 * through libc, which returns -1 with an errno we cannot read.
 */
function call(syscall: string, wrapped: (() => number) | null, direct: () => number): number {
  const result = wrapped ? wrapped() : direct();
  if (result >= 0) return result;
  throw new PosixError(syscall, wrapped ? -result : 0);
}

/**
 * Applies or removes an advisory flock(2) lock. Returns false when LOCK_NB was
 * given and another open file description holds a conflicting lock.
 */
export function flock(fd: number, operation: number): boolean {
  const n = native();
  try {
    call("flock", n && (() => n.tinyd_flock(fd, operation)), () => libc().flock(fd, operation));
    return true;
  } catch (error) {
    const errno = (error as PosixError).errno;
    // Without errno, a failed non-blocking lock on a descriptor we just
    // opened can only mean that it is held elsewhere.
    if ((operation & constants.LOCK_NB) !== 0 && (errno === constants.EWOULDBLOCK || errno === 0)) return false;
    throw error;
  }
}

export function kill(pid: number, signal: number): void {
  const n = native();
  call("kill", n && (() => n.tinyd_kill(pid, signal)), () => libc().kill(pid, signal));
}

/** Sets the file mode creation mask and returns the previous one. */
export function umask(mask: number): number {
  return libc().umask(mask);
}

export function setsid(): number {
  const n = native();
  return call("setsid", n && (() => n.tinyd_setsid()), () => libc().setsid());
}

export function getpid(): number {
  return libc().getpid();
}

export function getpgid(pid: number): number {
  const n = native();
  return call("getpgid", n && (() => n.tinyd_getpgid(pid)), () => libc().getpgid(pid));
}

export function getsid(pid: number): number {
  const n = native();
  return call("getsid", n && (() => n.tinyd_getsid(pid)), () => libc().getsid(pid));
}

/** Creates a pipe and returns [read end, write end]. Neither end is close-on-exec. */
export function pipe(): [number, number] {
  const fds = new Int32Array(2);
  const n = native();
  call("pipe", n && (() => n.tinyd_pipe(ptr(fds))), () => libc().pipe(ptr(fds)));
  return [fds[0]!, fds[1]!];
}

/** Large enough for every platform's sigset_t (glibc and musl: 128 bytes). */
const SIGSET_BYTES = 128;

/**
 * Unblocks every signal in the calling thread. Bun.spawn passes the caller's
 * signal mask on to the child (measured with Bun 1.4.5), so the fallback
 * launch empties it before it spawns the daemon.
 */
export function unblockAllSignals(): void {
  const empty = new Uint8Array(SIGSET_BYTES);
  if (libc().sigprocmask(constants.SIG_SETMASK, ptr(empty), null) < 0) throw new PosixError("sigprocmask", 0);
}

/** How a child ended, decoded from a waitpid(2) status. */
export interface ExitStatus {
  /** The exit code when the child called exit(), otherwise null. */
  code: number | null;
  /** The signal number when a signal ended the child, otherwise null. */
  signal: number | null;
}

/** WNOHANG has the same value on Linux, macOS and FreeBSD. */
const WNOHANG = 1;

function decodeWaitStatus(status: number): ExitStatus {
  const low = status & 0x7f;
  if (low === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: low };
}

/**
 * Reaps a child if it has ended, without blocking. Returns null while it
 * still runs, and throws PosixError (ECHILD) when it is not our child.
 */
export function reapChild(pid: number): ExitStatus | null {
  const status = new Int32Array(1);
  const n = native();
  const result = call("waitpid", n && (() => n.tinyd_waitpid(pid, ptr(status), WNOHANG)), () => libc().waitpid(pid, ptr(status), WNOHANG));
  if (result === 0) return null;
  return decodeWaitStatus(status[0]!);
}

export function dup2(from: number, to: number): void {
  const n = native();
  call("dup2", n && (() => n.tinyd_dup2(from, to)), () => libc().dup2(from, to));
}

/**
 * Sets the name Linux shows in /proc/PID/comm and in ps -o comm, cut to 15
 * bytes. Returns false where the platform has no such call.
 */
export function setProcessName(name: string): boolean {
  const n = native();
  if (!n) return false;
  return n.tinyd_set_process_name(ptr(Buffer.from(`${name.slice(0, 15)}\0`))) === 0;
}

/** AF_UNIX, SOCK_STREAM and SOCK_DGRAM have these values on Linux, macOS and FreeBSD. */
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;

/** Creates a connected pair of Unix stream sockets. Neither end is close-on-exec. */
export function socketpair(): [number, number] {
  const fds = new Int32Array(2);
  const n = native();
  call("socketpair", n && (() => n.tinyd_socketpair(AF_UNIX, SOCK_STREAM, 0, ptr(fds))), () => libc().socketpair(AF_UNIX, SOCK_STREAM, 0, ptr(fds)));
  return [fds[0]!, fds[1]!];
}

/** Creates an unbound Unix datagram socket. */
export function datagramSocket(): number {
  const n = native();
  return call("socket", n && (() => n.tinyd_socket(AF_UNIX, SOCK_DGRAM, 0)), () => libc().socket(AF_UNIX, SOCK_DGRAM, 0));
}

/** Maximum length of a sockaddr_un path with its NUL: 108 bytes on Linux, 104 on macOS and FreeBSD. */
const SUN_PATH_BYTES = process.platform === "linux" ? 108 : 104;

/**
 * Encodes a sockaddr_un. Linux has a 16-bit family first; macOS and FreeBSD
 * have a length byte and a family byte.
 */
export function unixAddress(path: string): Buffer {
  const encoded = Buffer.from(path);
  if (encoded.length >= SUN_PATH_BYTES) {
    throw new PosixError("sockaddr_un", osConstants.errno.ENAMETOOLONG);
  }
  const address = Buffer.alloc(2 + SUN_PATH_BYTES);
  if (process.platform === "linux") {
    address.writeUInt16LE(AF_UNIX, 0);
  } else {
    address.writeUInt8(address.length, 0);
    address.writeUInt8(AF_UNIX, 1);
  }
  encoded.copy(address, 2);
  return address;
}

/** Sends one datagram to the socket at `address` (from unixAddress). */
export function sendDatagram(fd: number, data: Uint8Array, address: Buffer): void {
  const n = native();
  call(
    "sendto",
    n && (() => n.tinyd_sendto(fd, ptr(data), data.length, ptr(address), address.length)),
    () => Number(libc().sendto(fd, ptr(data), data.length, 0, ptr(address), address.length)),
  );
}
