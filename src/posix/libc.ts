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
import { type IoLibrary, ioLibraryIfAvailable, type NativeLibrary, nativeLibraryIfAvailable } from "../native/compile";
import { constants, type ResourceName } from "./constants";

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
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    recvfrom: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i64 },
    poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
    read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
    write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    // NOTE: fcntl is variadic. This fixed signature is right on x86-64 and
    // on arm64 outside Apple, and only this path without a compiler uses it.
    fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    getrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  }).symbols;
}

let libcSymbols: ReturnType<typeof openLibc> | undefined;
let wrappers: NativeLibrary | null | undefined;

function libc(): ReturnType<typeof openLibc> {
  libcSymbols ??= openLibc();
  return libcSymbols;
}

let ioWrappers: IoLibrary | null | undefined;

/** Initialises the io.c wrappers once and returns them, or null where they cannot be compiled. */
function io(): IoLibrary | null {
  if (ioWrappers === undefined) {
    ioWrappers = ioLibraryIfAvailable();
    if (ioWrappers && ioWrappers.tinyd_io_init(constants.rtldDefault) !== 0) ioWrappers = null;
  }
  return ioWrappers;
}

/** Initialises the C wrappers once and returns them, or null where they cannot be compiled. */
function native(): NativeLibrary | null {
  if (wrappers === undefined) {
    wrappers = nativeLibraryIfAvailable();
    if (wrappers && wrappers.tinyd_syscalls_init(constants.rtldDefault) !== 0) wrappers = null;
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
 * Changes the signal mask of the calling thread and returns the previous
 * mask as a sorted list of signal numbers. `how` is "block" (add `signals`),
 * "unblock" (remove them) or "setmask" (replace the mask with them).
 *
 * Every supported platform stores signal n as bit n-1 of a little-endian
 * sigset_t, which is how the set is built here.
 */
export function sigprocmask(how: "block" | "unblock" | "setmask", signals: readonly number[]): number[] {
  const set = new Uint8Array(SIGSET_BYTES);
  for (const signal of signals) {
    if (!Number.isInteger(signal) || signal < 1 || signal >= constants.NSIG) throw new RangeError(`invalid signal number ${signal}: expected 1 to ${constants.NSIG - 1}`);
    set[(signal - 1) >> 3]! |= 1 << ((signal - 1) & 7);
  }
  const old = new Uint8Array(SIGSET_BYTES);
  const operations = { block: constants.SIG_BLOCK, unblock: constants.SIG_UNBLOCK, setmask: constants.SIG_SETMASK };
  const operation = operations[how];
  const n = io();
  call("sigprocmask", n && (() => n.tinyd_sigprocmask(operation, ptr(set), ptr(old))), () => libc().sigprocmask(operation, ptr(set), ptr(old)));
  const previous: number[] = [];
  for (let signal = 1; signal < constants.NSIG; signal++) {
    if ((old[(signal - 1) >> 3]! & (1 << ((signal - 1) & 7))) !== 0) previous.push(signal);
  }
  return previous;
}

/**
 * Unblocks every signal in the calling thread. Bun.spawn passes the caller's
 * signal mask on to the child (measured with Bun 1.4.5), so the fallback
 * launch empties it before it spawns the daemon.
 */
export function unblockAllSignals(): void {
  const empty = new Uint8Array(SIGSET_BYTES);
  if (libc().sigprocmask(constants.SIG_SETMASK, ptr(empty), null) < 0) throw new PosixError("sigprocmask", 0);
}

/** The end of a child process, decoded from a waitpid(2) status. */
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

/**
 * Sets the name Linux shows in /proc/PID/comm and in ps -o comm, cut to 15
 * bytes. Returns false where the platform has no such call.
 */
export function setProcessName(name: string): boolean {
  const n = native();
  if (!n) return false;
  return n.tinyd_set_process_name(ptr(Buffer.from(`${name.slice(0, 15)}\0`))) === 0;
}

/** SOCK_STREAM has this value on Linux, macOS and FreeBSD. */
const SOCK_STREAM = 1;

/** Creates a connected pair of Unix stream sockets. Neither end is close-on-exec. */
export function socketpair(): [number, number] {
  const fds = new Int32Array(2);
  const n = native();
  call("socketpair", n && (() => n.tinyd_socketpair(constants.AF_UNIX, SOCK_STREAM, 0, ptr(fds))), () => libc().socketpair(constants.AF_UNIX, SOCK_STREAM, 0, ptr(fds)));
  return [fds[0]!, fds[1]!];
}

/** Soft and hard limit of a resource; `Infinity` stands for RLIM_INFINITY. */
export interface ResourceLimit {
  soft: number;
  hard: number;
}

function toRlim(value: number): bigint {
  if (value === Number.POSITIVE_INFINITY) return constants.RLIM_INFINITY;
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`invalid resource limit ${value}: expected a whole number, 0 or more, or Infinity`);
  return BigInt(value);
}

function fromRlim(value: bigint): number {
  return value >= constants.RLIM_INFINITY ? Number.POSITIVE_INFINITY : Number(value);
}

function resourceNumber(resource: ResourceName | number): number {
  if (typeof resource === "number") return resource;
  const number = constants.RLIMIT[resource];
  if (number === undefined) throw new RangeError(`invalid resource '${resource}': expected one of ${Object.keys(constants.RLIMIT).join(", ")}`);
  return number;
}

/** Reads a resource limit, such as getrlimit("nofile"). */
export function getrlimit(resource: ResourceName | number): ResourceLimit {
  const limit = new BigUint64Array(2);
  const number = resourceNumber(resource);
  const n = io();
  call("getrlimit", n && (() => n.tinyd_getrlimit(number, ptr(limit))), () => libc().getrlimit(number, ptr(limit)));
  return { soft: fromRlim(limit[0]!), hard: fromRlim(limit[1]!) };
}

/** Sets a resource limit. Raising the hard limit needs privilege (EPERM otherwise). */
export function setrlimit(resource: ResourceName | number, limit: ResourceLimit): void {
  const values = BigUint64Array.of(toRlim(limit.soft), toRlim(limit.hard));
  const number = resourceNumber(resource);
  const n = io();
  call("setrlimit", n && (() => n.tinyd_setrlimit(number, ptr(values))), () => libc().setrlimit(number, ptr(values)));
}

export function close(fd: number): void {
  const n = io();
  call("close", n && (() => n.tinyd_close(fd)), () => libc().close(fd));
}

/** Duplicates `fd` onto `target`, closing what `target` was first. */
export function dup2(fd: number, target: number): number {
  const n = io();
  return call("dup2", n && (() => n.tinyd_dup2(fd, target)), () => libc().dup2(fd, target));
}

/** Calls fcntl(2) with an int argument, such as fcntl(fd, F_SETFD, FD_CLOEXEC). */
export function fcntl(fd: number, command: number, argument = 0): number {
  const n = io();
  return call("fcntl", n && (() => n.tinyd_fcntl(fd, command, argument)), () => libc().fcntl(fd, command, argument));
}

/** Marks a descriptor close-on-exec, so that no program the process execs inherits it. */
export function setCloseOnExec(fd: number): void {
  fcntl(fd, constants.F_SETFD, constants.FD_CLOEXEC);
}

/** Makes reads and writes on a descriptor return EAGAIN instead of blocking. */
export function setNonBlocking(fd: number): void {
  const flags = fcntl(fd, constants.F_GETFL);
  if ((flags & constants.O_NONBLOCK) === 0) fcntl(fd, constants.F_SETFL, flags | constants.O_NONBLOCK);
}

/** Creates a socket; see socket(2). */
export function socket(domain: number, type: number, protocol = 0): number {
  const n = io();
  return call("socket", n && (() => n.tinyd_socket(domain, type, protocol)), () => libc().socket(domain, type, protocol));
}

/** Binds a socket to an encoded address, such as one from unixAddress(). */
export function bind(fd: number, address: Uint8Array): void {
  const n = io();
  call("bind", n && (() => n.tinyd_bind(fd, ptr(address), address.length)), () => libc().bind(fd, ptr(address), address.length));
}

/** Sends one datagram to an encoded address and returns the number of bytes sent. */
export function sendto(fd: number, data: Uint8Array, address: Uint8Array, flags = 0): number {
  // ptr() rejects an empty buffer, and an empty datagram is valid.
  const payload = data.length > 0 ? data : new Uint8Array(1);
  const n = io();
  return call(
    "sendto",
    n && (() => n.tinyd_sendto(fd, ptr(payload), data.length, flags, ptr(address), address.length)),
    () => Number(libc().sendto(fd, ptr(payload), BigInt(data.length), flags, ptr(address), address.length)),
  );
}

/**
 * Receives one datagram into `buffer` and returns its length. A datagram
 * longer than the buffer is cut. On a non-blocking socket with nothing
 * queued it throws PosixError EAGAIN (EWOULDBLOCK).
 */
export function recv(fd: number, buffer: Uint8Array, flags = 0): number {
  const n = io();
  return call(
    "recv",
    n && (() => n.tinyd_recv(fd, ptr(buffer), buffer.length, flags)),
    () => Number(libc().recvfrom(fd, ptr(buffer), BigInt(buffer.length), flags, null, null)),
  );
}

/** Reads from a descriptor into `buffer` and returns the number of bytes read, 0 at end of file. */
export function read(fd: number, buffer: Uint8Array): number {
  const n = io();
  return call("read", n && (() => n.tinyd_read(fd, ptr(buffer), buffer.length)), () => Number(libc().read(fd, ptr(buffer), BigInt(buffer.length))));
}

/** Writes `data` to a descriptor and returns the number of bytes written. */
export function write(fd: number, data: Uint8Array): number {
  const n = io();
  return call("write", n && (() => n.tinyd_write(fd, ptr(data), data.length)), () => Number(libc().write(fd, ptr(data), BigInt(data.length))));
}

/**
 * Waits up to `timeoutMs` (0: do not wait, -1: no limit) for events on one
 * descriptor and returns the events that occurred (revents), 0 when none.
 */
export function poll(fd: number, events: number, timeoutMs: number): number {
  const n = io();
  if (n) return call("poll", () => n.tinyd_poll1(fd, events, timeoutMs), () => 0);
  const entry = new DataView(new ArrayBuffer(8));
  entry.setInt32(0, fd, true);
  entry.setInt16(4, events, true);
  const ready = libc().poll(ptr(entry), 1n, timeoutMs);
  if (ready < 0) throw new PosixError("poll", 0);
  return ready === 0 ? 0 : entry.getInt16(6, true);
}

/**
 * Reads CLOCK_MONOTONIC in nanoseconds. process.hrtime counts from another
 * origin in Bun (measured with Bun 1.4.5), and sd_notify's MONOTONIC_USEC=
 * must be comparable with the service manager's clock.
 */
export function monotonicNanoseconds(): bigint {
  // struct timespec is two 64-bit fields on every supported platform.
  const time = new BigInt64Array(2);
  if (libc().clock_gettime(constants.CLOCK_MONOTONIC, ptr(time)) < 0) throw new PosixError("clock_gettime", 0);
  return time[0]! * 1_000_000_000n + time[1]!;
}
