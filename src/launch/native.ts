/**
 * The native launch: runs the daemon(7) sequence in tinyd's compiled C
 * (src/native/launch.c), which never returns into JavaScript in a child.
 */
import { ptr } from "bun:ffi";
import { nativeLibrary } from "../native/compile";
import { constants } from "../posix/constants";
import { type LaunchRequest, type LaunchResult, LaunchStep } from "./request";

/** Indices into the int array shared with launch.c; keep them in its order. */
const P = {
  FLAGS: 0,
  UMASK: 1,
  STDIN: 2,
  STDOUT: 3,
  STDERR: 4,
  LOCK_FD: 5,
  MAX_FD: 6,
  NSIG: 7,
  SIG_BLOCK: 8,
  SIG_SETMASK: 9,
  F_DUPFD_CLOEXEC: 10,
  F_GETFL: 11,
  F_SETFL: 12,
  O_NONBLOCK: 13,
  O_CLOEXEC: 14,
  SIGKILL: 15,
  SIGSTOP: 16,
  SIGPIPE: 17,
  SIGXFSZ: 18,
  SYS_CLOSE_RANGE: 19,
  RTLD_DEFAULT: 20,
  KEEP_COUNT: 21,
  OUT_PID: 22,
  OUT_STEP: 23,
  OUT_ERRNO: 24,
  // Privileges and resources.
  UID: 25,
  GID: 26,
  GROUP_COUNT: 27,
  NICE_SET: 28,
  NICE: 29,
  PRIO_PROCESS: 30,
  LIMIT_COUNT: 31,
  OUT_DETAIL: 32,
  PID_FD: 33,
  // Readiness: the notification pipe's write end and its number in the daemon.
  NOTIFY_FD: 34,
  NOTIFY_TARGET: 35,
  COUNT: 36,
} as const;

const FLAG_NO_CLOSE = 1;
const FLAG_KEEP_SIGNALS = 2;
const FLAG_FOREGROUND = 4;
const FLAG_CHDIR = 8;
const FLAG_CHILD = 16;

/** Upper bound for the close() loop where close_range(2) is missing. */
const MAX_FD_TO_CLOSE = 65536;

/** Compiles the launcher. Throws where bun:ffi has no compiler. */
export function loadNativeLauncher(): void {
  nativeLibrary();
}

function cString(text: string): Buffer {
  return Buffer.from(`${text}\0`);
}

/** Builds a NULL-terminated array of pointers to C strings and returns it with the buffers it points into. */
function cStringArray(items: readonly string[]): { array: BigUint64Array; keep: Buffer[] } {
  const keep = items.map(cString);
  const array = new BigUint64Array(items.length + 1);
  keep.forEach((buffer, i) => {
    array[i] = BigInt(ptr(buffer));
  });
  return { array, keep };
}

/** Converts a limit to rlim_t, with RLIM_INFINITY for null (unlimited). */
function rlimitValue(value: number | null): bigint {
  return value === null ? constants.RLIM_INFINITY : BigInt(value);
}

/**
 * Fills the privilege slots of `p` and returns the arrays that launch.c
 * reads through pointers: the root directory, the supplementary groups and
 * the limits as (resource, soft, hard) triples.
 */
function privilegeParameters(request: LaunchRequest, p: Int32Array): { root: Buffer | null; groups: Int32Array; limits: BigUint64Array } {
  const credentials = request.credentials;
  p[P.UID] = credentials?.uid ?? -1;
  p[P.GID] = credentials?.gid ?? -1;
  p[P.GROUP_COUNT] = credentials ? credentials.groups.length : -1;
  p[P.NICE_SET] = request.nice === null ? 0 : 1;
  p[P.NICE] = request.nice ?? 0;
  p[P.PRIO_PROCESS] = constants.PRIO_PROCESS;
  p[P.LIMIT_COUNT] = request.limits.length;

  const limits = new BigUint64Array(request.limits.length * 3);
  request.limits.forEach((limit, i) => {
    limits[3 * i] = BigInt(constants.RLIMIT[limit.name]);
    limits[3 * i + 1] = rlimitValue(limit.soft);
    limits[3 * i + 2] = rlimitValue(limit.hard);
  });
  return {
    root: request.chroot === null ? null : cString(request.chroot),
    groups: Int32Array.from(credentials?.groups ?? []),
    limits,
  };
}

export function launchNative(request: LaunchRequest): LaunchResult {
  const native = nativeLibrary();

  const p = new Int32Array(P.COUNT);
  p[P.FLAGS] =
    (request.closeFds ? 0 : FLAG_NO_CLOSE) |
    (request.resetSignals ? 0 : FLAG_KEEP_SIGNALS) |
    (request.foreground ? FLAG_FOREGROUND : 0) |
    (request.cwd === null ? 0 : FLAG_CHDIR) |
    (request.supervisedChild ? FLAG_CHILD : 0);
  p[P.UMASK] = request.umask ?? -1;
  p[P.STDIN] = request.stdin ?? -1;
  p[P.STDOUT] = request.stdout ?? -1;
  p[P.STDERR] = request.stderr ?? -1;
  p[P.LOCK_FD] = request.lockFd ?? -1;
  p[P.PID_FD] = request.pidWriteFd ?? -1;
  p[P.MAX_FD] = MAX_FD_TO_CLOSE;
  p[P.NSIG] = constants.NSIG;
  p[P.SIG_BLOCK] = constants.SIG_BLOCK;
  p[P.SIG_SETMASK] = constants.SIG_SETMASK;
  p[P.F_DUPFD_CLOEXEC] = constants.F_DUPFD_CLOEXEC;
  p[P.F_GETFL] = constants.F_GETFL;
  p[P.F_SETFL] = constants.F_SETFL;
  p[P.O_NONBLOCK] = constants.O_NONBLOCK;
  p[P.O_CLOEXEC] = process.platform === "linux" ? constants.O_CLOEXEC : 0;
  p[P.SIGKILL] = constants.SIGKILL;
  p[P.SIGSTOP] = constants.SIGSTOP;
  p[P.SIGPIPE] = constants.SIGPIPE;
  p[P.SIGXFSZ] = constants.SIGXFSZ;
  p[P.SYS_CLOSE_RANGE] = constants.SYS_close_range;
  p[P.RTLD_DEFAULT] = constants.rtldDefault;
  const keepFds = Int32Array.from(request.keepFds);
  p[P.KEEP_COUNT] = keepFds.length;
  p[P.NOTIFY_FD] = request.notifyFd?.source ?? -1;
  p[P.NOTIFY_TARGET] = request.notifyFd?.target ?? -1;

  const argv = cStringArray(request.argv);
  const envp = cStringArray(request.env);
  const path = cString(request.path);
  const cwd = cString(request.cwd ?? "/");

  const privileges = privilegeParameters(request, p);

  const status = native.tinyd_launch(
    ptr(p),
    ptr(argv.array),
    ptr(envp.array),
    ptr(path),
    ptr(cwd),
    keepFds.length > 0 ? ptr(keepFds) : null,
    privileges.root === null ? null : ptr(privileges.root),
    privileges.groups.length > 0 ? ptr(privileges.groups) : null,
    privileges.limits.length > 0 ? ptr(privileges.limits) : null,
  );

  // The buffers must stay reachable until the call has returned.
  void [argv.keep, envp.keep, privileges];

  if (status === 0) return { ok: true, pid: p[P.OUT_PID]! };
  const step = p[P.OUT_STEP]! as LaunchStep;
  return { ok: false, step, errno: p[P.OUT_ERRNO]!, ...(step === LaunchStep.Limits ? { failedLimit: p[P.OUT_DETAIL]! } : {}) };
}
