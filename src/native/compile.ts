/**
 * Compiles tinyd's C once per process with bun:ffi's TinyCC.
 *
 * Compiling at run time costs a few milliseconds. In exchange it needs no C
 * toolchain, no libc headers and no prebuilt shared object per platform,
 * because the C declares what it uses and looks functions up with dlsym. So
 * one compiled tinyd binary works on any glibc, musl or macOS host.
 */
import { cc, dlopen, FFIType, ptr } from "bun:ffi";
import { closeSync, mkdtempSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode, TinydError } from "../errors";
import { constants } from "../posix/constants";
import launchSource from "./launch.c" with { type: "text" };
import ioSource from "./io.c" with { type: "text" };
import syscallsSource from "./syscalls.c" with { type: "text" };

const nativeSymbols = {
  tinyd_launch: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  tinyd_syscall: { args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64], returns: FFIType.i64_fast },
} as const;

/** Operations of tinyd_syscall, in the order of syscalls.c. */
const OP = {
  INIT: 0,
  FLOCK: 1,
  KILL: 2,
  SETSID: 3,
  GETPGID: 4,
  GETSID: 5,
  PIPE: 6,
  WAITPID: 7,
  SET_PROCESS_NAME: 8,
  SOCKETPAIR: 9,
} as const;

/** Gives each wrapper of syscalls.c a function of its own over the one entry point. */
function bindSyscalls(symbols: ReturnType<typeof compile>["symbols"]) {
  const call = (op: number, a = 0, b = 0, c = 0, d = 0) => Number(symbols.tinyd_syscall(op, a, b, c, d));
  return {
    tinyd_launch: symbols.tinyd_launch,
    tinyd_syscalls_init: (rtldDefault: number) => call(OP.INIT, rtldDefault),
    tinyd_flock: (fd: number, operation: number) => call(OP.FLOCK, fd, operation),
    tinyd_kill: (pid: number, signal: number) => call(OP.KILL, pid, signal),
    tinyd_setsid: () => call(OP.SETSID),
    tinyd_getpgid: (pid: number) => call(OP.GETPGID, pid),
    tinyd_getsid: (pid: number) => call(OP.GETSID, pid),
    tinyd_pipe: (fds: number) => call(OP.PIPE, fds),
    tinyd_waitpid: (pid: number, status: number, options: number) => call(OP.WAITPID, pid, status, options),
    tinyd_set_process_name: (name: number) => call(OP.SET_PROCESS_NAME, name),
    tinyd_socketpair: (domain: number, type: number, protocol: number, fds: number) => call(OP.SOCKETPAIR, domain, type, protocol, fds),
  };
}

function compile() {
  return withSourceFile(`${launchSource}\n${syscallsSource}`, (file) => cc({ source: file, flags: ["-nostdlib"], symbols: nativeSymbols }));
}

/** Writes `source` to a private temporary file for `compileFile`, and removes it afterwards. */
/** Creates an anonymous in-memory file on Linux, or returns -1 where that fails. */
function memoryFile(): number {
  if (process.platform !== "linux") return -1;
  try {
    const { memfd_create } = dlopen(constants.libc, { memfd_create: { args: [FFIType.ptr, FFIType.u32], returns: FFIType.i32 } }).symbols;
    return memfd_create(ptr(Buffer.from("tinyd.c\0")), MFD_CLOEXEC);
  } catch {
    return -1;
  }
}

/** MFD_CLOEXEC from linux/memfd.h. */
const MFD_CLOEXEC = 1;

/**
 * Gives TinyCC the source as a file, which it needs: in a compiled binary the
 * embedded files exist only under the virtual /$bunfs/ path. On Linux the
 * file is a memfd, which needs no writable temporary directory.
 */
function withSourceFile<T>(source: string, compileFile: (file: string) => T): T {
  const fd = memoryFile();
  if (fd >= 0) {
    try {
      writeSync(fd, source);
      return compileFile(`/proc/self/fd/${fd}`);
    } finally {
      closeSync(fd);
    }
  }

  let directory: string;
  try {
    directory = mkdtempSync(join(tmpdir(), "tinyd-cc-"));
  } catch (error) {
    throw new TinydError(
      "E_INTERNAL",
      `cannot write the launch's C source to the temporary directory ${tmpdir()}: ${(error as Error).message}. Set TMPDIR to a writable directory`,
      ExitCode.CANNOT_CREATE,
    );
  }
  try {
    const file = join(directory, "tinyd.c");
    writeFileSync(file, source, { mode: 0o600 });
    return compileFile(file);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

export type NativeLibrary = ReturnType<typeof bindSyscalls>;

let library: NativeLibrary | undefined;
let failure: Error | undefined;

/**
 * Returns the compiled functions. Throws when bun:ffi has no compiler, as in
 * Bun's FreeBSD build or under --no-ffi-cc, and caches that failure.
 */
export function nativeLibrary(): NativeLibrary {
  if (library) return library;
  if (failure) throw failure;
  try {
    library = bindSyscalls(compile().symbols);
    return library;
  } catch (error) {
    failure = error as Error;
    throw failure;
  }
}

/**
 * Environment variable that selects the launch method: "native", "fallback"
 * or "auto" (the default). "fallback" also makes every other part of tinyd behave as
 * on a runtime without a compiler, so that tests can run that path on Linux.
 */
export const LAUNCH_ENV = "TINYD_LAUNCH";

/** Returns the compiled functions, or null where bun:ffi cannot compile. */
export function nativeLibraryIfAvailable(): NativeLibrary | null {
  if (process.env[LAUNCH_ENV] === "fallback") return null;
  try {
    return nativeLibrary();
  } catch (error) {
    // A compiler that exists but cannot be used is an error, not a reason to fall back.
    if (error instanceof TinydError) throw error;
    return null;
  }
}

/** The wrappers of io.c: sockets, descriptors, limits and the signal mask. */
const ioSymbols = {
  tinyd_io: {
    args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64],
    returns: FFIType.i64_fast,
  },
} as const;

/** Operations of tinyd_io, in the order of io.c. */
const IO_OP = {
  INIT: 0,
  SOCKET: 1,
  BIND: 2,
  CLOSE: 3,
  DUP2: 4,
  GETRLIMIT: 5,
  SETRLIMIT: 6,
  SIGPROCMASK: 7,
  FCNTL: 8,
  SENDTO: 9,
  RECV: 10,
  READ: 11,
  WRITE: 12,
  POLL1: 13,
} as const;

/** Gives each wrapper of io.c a function of its own over the one entry point. */
function bindIo(symbols: ReturnType<typeof compileIo>["symbols"]) {
  const call = (op: number, a = 0, b = 0, c = 0, d = 0, e = 0, f = 0) => Number(symbols.tinyd_io(op, a, b, c, d, e, f));
  return {
    tinyd_io_init: (rtldDefault: number) => call(IO_OP.INIT, rtldDefault),
    tinyd_socket: (domain: number, type: number, protocol: number) => call(IO_OP.SOCKET, domain, type, protocol),
    tinyd_bind: (fd: number, address: number, length: number) => call(IO_OP.BIND, fd, address, length),
    tinyd_close: (fd: number) => call(IO_OP.CLOSE, fd),
    tinyd_dup2: (fd: number, target: number) => call(IO_OP.DUP2, fd, target),
    tinyd_getrlimit: (resource: number, limit: number) => call(IO_OP.GETRLIMIT, resource, limit),
    tinyd_setrlimit: (resource: number, limit: number) => call(IO_OP.SETRLIMIT, resource, limit),
    tinyd_sigprocmask: (how: number, set: number, old: number) => call(IO_OP.SIGPROCMASK, how, set, old),
    tinyd_fcntl: (fd: number, command: number, argument: number) => call(IO_OP.FCNTL, fd, command, argument),
    tinyd_sendto: (fd: number, data: number, length: number, flags: number, address: number, addressLength: number) =>
      call(IO_OP.SENDTO, fd, data, length, flags, address, addressLength),
    tinyd_recv: (fd: number, data: number, length: number, flags: number) => call(IO_OP.RECV, fd, data, length, flags),
    tinyd_read: (fd: number, data: number, length: number) => call(IO_OP.READ, fd, data, length),
    tinyd_write: (fd: number, data: number, length: number) => call(IO_OP.WRITE, fd, data, length),
    tinyd_poll1: (fd: number, events: number, timeoutMs: number) => call(IO_OP.POLL1, fd, events, timeoutMs),
  };
}

function compileIo() {
  return withSourceFile(ioSource, (file) => cc({ source: file, flags: ["-nostdlib"], symbols: ioSymbols }));
}

export type IoLibrary = ReturnType<typeof bindIo>;

let ioLibrary: IoLibrary | null | undefined;

/**
 * Returns the compiled io.c wrappers, or null where bun:ffi cannot compile
 * or LAUNCH_ENV is "fallback". A unit of its own, because each symbol costs
 * start-up time and a plain start needs none of these.
 */
export function ioLibraryIfAvailable(): IoLibrary | null {
  if (ioLibrary !== undefined) return ioLibrary;
  if (process.env[LAUNCH_ENV] === "fallback") return (ioLibrary = null);
  try {
    ioLibrary = bindIo(compileIo().symbols);
  } catch {
    ioLibrary = null;
  }
  return ioLibrary;
}
