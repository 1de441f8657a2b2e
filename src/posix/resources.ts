/**
 * The root directory of the calling process, for the fallback launch's
 * intermediate, which confines itself before it spawns the daemon.
 *
 * The call goes straight to libc, so a failure carries no errno
 * (PosixError.errno is 0): the callers check what they can beforehand.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { constants } from "./constants";
import { PosixError } from "./libc";

function openLibc() {
  return dlopen(constants.libc, {
    chroot: { args: [FFIType.ptr], returns: FFIType.i32 },
  }).symbols;
}

let libcSymbols: ReturnType<typeof openLibc> | undefined;

function libc(): ReturnType<typeof openLibc> {
  libcSymbols ??= openLibc();
  return libcSymbols;
}

/** Changes the root directory of the calling process. The caller must chdir inside it next. */
export function chroot(path: string): void {
  if (libc().chroot(ptr(Buffer.from(`${path}\0`))) < 0) throw new PosixError("chroot", 0);
}
