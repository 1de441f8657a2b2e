/**
 * Compiles tinyd's C once per process with bun:ffi's TinyCC.
 *
 * Compiling at run time costs a few milliseconds. In exchange it needs no C
 * toolchain, no libc headers and no prebuilt shared object per platform,
 * because the C declares what it uses and looks functions up with dlsym. So
 * one compiled tinyd binary works on any glibc, musl or macOS host.
 */
import { cc } from "bun:ffi";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import launchSource from "./launch.c" with { type: "text" };
import ioSource from "./io.c" with { type: "text" };
import syscallsSource from "./syscalls.c" with { type: "text" };

const nativeSymbols = {
  tinyd_launch: { args: ["ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr", "ptr"], returns: "i32" },
  tinyd_syscalls_init: { args: ["i64"], returns: "i32" },
  tinyd_flock: { args: ["i32", "i32"], returns: "i32" },
  tinyd_kill: { args: ["i32", "i32"], returns: "i32" },
  tinyd_setsid: { args: [], returns: "i32" },
  tinyd_getpgid: { args: ["i32"], returns: "i32" },
  tinyd_getsid: { args: ["i32"], returns: "i32" },
  tinyd_pipe: { args: ["ptr"], returns: "i32" },
  tinyd_waitpid: { args: ["i32", "ptr", "i32"], returns: "i32" },
  tinyd_set_process_name: { args: ["ptr"], returns: "i32" },
  tinyd_socketpair: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
} as const;

function compile() {
  return withSourceFile(`${launchSource}\n${syscallsSource}`, (file) => cc({ source: file, flags: ["-nostdlib"], symbols: nativeSymbols }));
}

/** Writes `source` to a private temporary file for `compileFile`, and removes it afterwards. */
function withSourceFile<T>(source: string, compileFile: (file: string) => T): T {
  // TinyCC reads its source from a real file, and in a compiled binary the
  // embedded files exist only under the virtual /$bunfs/ path.
  const directory = mkdtempSync(join(tmpdir(), "tinyd-cc-"));
  try {
    const file = join(directory, "tinyd.c");
    writeFileSync(file, source, { mode: 0o600 });
    return compileFile(file);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

export type NativeLibrary = ReturnType<typeof compile>["symbols"];

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
    library = compile().symbols;
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
  } catch {
    return null;
  }
}

/** The wrappers of io.c: sockets, descriptors, limits and the signal mask. */
const ioSymbols = {
  tinyd_io_init: { args: ["i64"], returns: "i32" },
  tinyd_socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  tinyd_bind: { args: ["i32", "ptr", "i32"], returns: "i32" },
  tinyd_close: { args: ["i32"], returns: "i32" },
  tinyd_dup2: { args: ["i32", "i32"], returns: "i32" },
  tinyd_getrlimit: { args: ["i32", "ptr"], returns: "i32" },
  tinyd_setrlimit: { args: ["i32", "ptr"], returns: "i32" },
  tinyd_sigprocmask: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  tinyd_fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  tinyd_sendto: { args: ["i32", "ptr", "i32", "i32", "ptr", "i32"], returns: "i32" },
  tinyd_recv: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" },
  tinyd_read: { args: ["i32", "ptr", "i32"], returns: "i32" },
  tinyd_write: { args: ["i32", "ptr", "i32"], returns: "i32" },
  tinyd_poll1: { args: ["i32", "i32", "i32"], returns: "i32" },
} as const;

function compileIo() {
  return withSourceFile(ioSource, (file) => cc({ source: file, flags: ["-nostdlib"], symbols: ioSymbols }));
}

export type IoLibrary = ReturnType<typeof compileIo>["symbols"];

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
    ioLibrary = compileIo().symbols;
  } catch {
    ioLibrary = null;
  }
  return ioLibrary;
}
