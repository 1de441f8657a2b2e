/**
 * Resource limits and the root directory of the calling process, for the
 * fallback launch's intermediate, which confines itself before it spawns the
 * daemon, and for the checks before a launch.
 *
 * These calls go straight to libc, so a failure carries no errno
 * (PosixError.errno is 0): the callers check what they can beforehand.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { constants, type ResourceName } from "./constants";
import { PosixError } from "./libc";

function openLibc() {
  return dlopen(constants.libc, {
    chroot: { args: [FFIType.ptr], returns: FFIType.i32 },
    getrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
    setrlimit: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  }).symbols;
}

let libcSymbols: ReturnType<typeof openLibc> | undefined;

function libc(): ReturnType<typeof openLibc> {
  libcSymbols ??= openLibc();
  return libcSymbols;
}

/** Soft and hard limit of a resource; null is unlimited (RLIM_INFINITY). */
export interface Rlimit {
  soft: number | null;
  hard: number | null;
}

function fromRlim(value: bigint): number | null {
  if (value === constants.RLIM_INFINITY) return null;
  // Limits beyond 2^53 are unlimited in practice, and a JavaScript number cannot hold them exactly.
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(value);
}

function toRlim(value: number | null): bigint {
  return value === null ? constants.RLIM_INFINITY : BigInt(value);
}

export function getrlimit(resource: ResourceName): Rlimit {
  const rlimit = new BigUint64Array(2);
  if (libc().getrlimit(constants.RLIMIT[resource], ptr(rlimit)) < 0) throw new PosixError("getrlimit", 0);
  return { soft: fromRlim(rlimit[0]!), hard: fromRlim(rlimit[1]!) };
}

export function setrlimit(resource: ResourceName, limit: Rlimit): void {
  const rlimit = BigUint64Array.of(toRlim(limit.soft), toRlim(limit.hard));
  if (libc().setrlimit(constants.RLIMIT[resource], ptr(rlimit)) < 0) throw new PosixError("setrlimit", 0);
}

/** Changes the root directory of the calling process. The caller must chdir inside it next. */
export function chroot(path: string): void {
  if (libc().chroot(ptr(Buffer.from(`${path}\0`))) < 0) throw new PosixError("chroot", 0);
}
