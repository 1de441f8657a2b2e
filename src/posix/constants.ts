/**
 * Per-platform values of the libc constants that tinyd passes to native code.
 * Node's `os.constants` and `fs.constants` lack most of them (O_CLOEXEC,
 * F_DUPFD_CLOEXEC, the sigprocmask operations), so they are listed here from
 * each platform's headers.
 */

export interface PlatformConstants {
  /** Path given to dlopen() for the C library. */
  libc: string;
  /** RTLD_DEFAULT, the pseudo-handle for a global dlsym() look-up. */
  rtldDefault: number;
  O_CLOEXEC: number;
  O_NONBLOCK: number;
  F_GETFL: number;
  F_SETFL: number;
  F_DUPFD_CLOEXEC: number;
  SIG_BLOCK: number;
  SIG_SETMASK: number;
  /** One more than the highest signal number. */
  NSIG: number;
  SIGKILL: number;
  SIGSTOP: number;
  SIGPIPE: number;
  SIGXFSZ: number;
  /** The close_range(2) system call number, or -1 where there is none. */
  SYS_close_range: number;
  LOCK_SH: number;
  LOCK_EX: number;
  LOCK_NB: number;
  LOCK_UN: number;
  EWOULDBLOCK: number;

  // Resource limits and scheduling priority, for --limit and --nice.
  /** RLIMIT_* numbers by the names that --limit accepts. */
  RLIMIT: Record<ResourceName, number>;
  /** RLIM_INFINITY, the value of an unlimited resource. */
  RLIM_INFINITY: bigint;
  PRIO_PROCESS: number;

  // Sockets, descriptors and clocks, for readiness and tinyd/posix.
  SIG_UNBLOCK: number;
  AF_UNIX: number;
  SOCK_DGRAM: number;
  /** Flags ORed into socket(2)'s type; 0 where the platform has none (macOS), which then uses fcntl. */
  SOCK_CLOEXEC: number;
  SOCK_NONBLOCK: number;
  /** Size of sockaddr_un's sun_path, the terminating NUL included. */
  SUN_PATH_BYTES: number;
  /** True where sockaddr_un starts with a one-byte sun_len (the BSDs and macOS). */
  SUN_LEN_FIELD: boolean;
  F_GETFD: number;
  F_SETFD: number;
  FD_CLOEXEC: number;
  POLLIN: number;
  POLLHUP: number;
  CLOCK_MONOTONIC: number;
}

/** The resource names that --limit accepts, as in prlimit(1) and ulimit. */
export type ResourceName = "as" | "core" | "cpu" | "fsize" | "memlock" | "nofile" | "nproc" | "stack";

const linux: PlatformConstants = {
  // glibc and musl both provide this soname.
  libc: "libc.so.6",
  rtldDefault: 0,
  O_CLOEXEC: 0o2000000,
  O_NONBLOCK: 0o4000,
  F_GETFL: 3,
  F_SETFL: 4,
  F_DUPFD_CLOEXEC: 1030,
  SIG_BLOCK: 0,
  SIG_SETMASK: 2,
  NSIG: 65,
  SIGKILL: 9,
  SIGSTOP: 19,
  SIGPIPE: 13,
  SIGXFSZ: 25,
  // The same number on x86-64 and arm64, which share the generic table from 5.9 on.
  SYS_close_range: 436,
  LOCK_SH: 1,
  LOCK_EX: 2,
  LOCK_NB: 4,
  LOCK_UN: 8,
  EWOULDBLOCK: 11,
  RLIMIT: { cpu: 0, fsize: 1, stack: 3, core: 4, nproc: 6, nofile: 7, memlock: 8, as: 9 },
  // ~0UL: rlim_t is unsigned 64 bits on every 64-bit Linux ABI.
  RLIM_INFINITY: 0xffff_ffff_ffff_ffffn,
  PRIO_PROCESS: 0,
  SIG_UNBLOCK: 1,
  AF_UNIX: 1,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0o2000000,
  SOCK_NONBLOCK: 0o4000,
  SUN_PATH_BYTES: 108,
  SUN_LEN_FIELD: false,
  F_GETFD: 1,
  F_SETFD: 2,
  FD_CLOEXEC: 1,
  POLLIN: 0x1,
  POLLHUP: 0x10,
  CLOCK_MONOTONIC: 1,
};

const darwin: PlatformConstants = {
  libc: "/usr/lib/libSystem.B.dylib",
  rtldDefault: -2,
  O_CLOEXEC: 0x1000000,
  O_NONBLOCK: 0x4,
  F_GETFL: 3,
  F_SETFL: 4,
  F_DUPFD_CLOEXEC: 67,
  SIG_BLOCK: 1,
  SIG_SETMASK: 3,
  NSIG: 32,
  SIGKILL: 9,
  SIGSTOP: 17,
  SIGPIPE: 13,
  SIGXFSZ: 25,
  SYS_close_range: -1,
  LOCK_SH: 1,
  LOCK_EX: 2,
  LOCK_NB: 4,
  LOCK_UN: 8,
  EWOULDBLOCK: 35,
  // RLIMIT_AS is RLIMIT_RSS on macOS.
  RLIMIT: { cpu: 0, fsize: 1, stack: 3, core: 4, as: 5, memlock: 6, nproc: 7, nofile: 8 },
  // (1 << 63) - 1 on macOS and FreeBSD.
  RLIM_INFINITY: 0x7fff_ffff_ffff_ffffn,
  PRIO_PROCESS: 0,
  SIG_UNBLOCK: 2,
  AF_UNIX: 1,
  SOCK_DGRAM: 2,
  SOCK_CLOEXEC: 0,
  SOCK_NONBLOCK: 0,
  SUN_PATH_BYTES: 104,
  SUN_LEN_FIELD: true,
  F_GETFD: 1,
  F_SETFD: 2,
  FD_CLOEXEC: 1,
  POLLIN: 0x1,
  POLLHUP: 0x10,
  CLOCK_MONOTONIC: 6,
};

const freebsd: PlatformConstants = {
  ...darwin,
  libc: "libc.so.7",
  O_CLOEXEC: 0x100000,
  F_DUPFD_CLOEXEC: 17,
  NSIG: 128,
  SYS_close_range: 575,
  // RLIMIT_AS is RLIMIT_VMEM on FreeBSD.
  RLIMIT: { cpu: 0, fsize: 1, stack: 3, core: 4, memlock: 6, nproc: 7, nofile: 8, as: 10 },
  SOCK_CLOEXEC: 0x10000000,
  SOCK_NONBLOCK: 0x20000000,
  CLOCK_MONOTONIC: 4,
};

function selectConstants(): PlatformConstants {
  switch (process.platform) {
    case "linux":
      return linux;
    case "darwin":
      return darwin;
    case "freebsd":
      return freebsd;
    default:
      throw new Error(`tinyd does not support the platform '${process.platform}'; it runs on Linux, macOS and FreeBSD`);
  }
}

export const constants: PlatformConstants = selectConstants();
