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
