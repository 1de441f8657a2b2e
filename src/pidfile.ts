/**
 * Locked pidfiles.
 *
 * A pidfile is live exactly while some process holds an exclusive flock(2) on
 * it: tinyd takes the lock before the launch, and the daemon inherits the
 * locked descriptor across exec, so the lock lives exactly as long as the
 * daemon. An unlocked pidfile is stale whatever pid it contains, and nothing
 * ever signals a pid read from a stale file.
 */
import { closeSync, constants as fs, fstatSync, ftruncateSync, lstatSync, openSync, readSync, unlinkSync } from "node:fs";
import { ExitCode, TinydError } from "./errors";
import { constants } from "./posix/constants";
import { flock, PosixError } from "./posix/libc";
import { isAlive } from "./proc";

/** A pidfile that this process has opened and locked. */
export interface PidfileLock {
  path: string;
  /**
   * The locked descriptor, open read-only: a daemon that inherits it holds
   * the lock but cannot rewrite the pid that a root `tinyd stop` signals.
   */
  fd: number;
  /** A write-only descriptor of the same file, for writing the pid. */
  writeFd: number;
  /** True when this process created the file, so that a failed start removes it. */
  created: boolean;
}

export interface PidfileState {
  path: string;
  /** False when no file exists at the path. */
  exists: boolean;
  /** True while a process holds the lock, which means the daemon runs. */
  locked: boolean;
  /** The pid in the file, or null when it is empty or not a number. */
  pid: number | null;
  /** True when the file has text that is not a pid. */
  malformed?: boolean;
}

const PIDFILE_MODE = 0o644;
/** A status or stop probe holds a shared lock for microseconds, so a start retries briefly before it reports "already running". */
const LOCK_ATTEMPTS = 5;
const LOCK_RETRY_MS = 2;
/** How often to start over when the path was replaced between open and lock. */
const REPLACED_ATTEMPTS = 10;

function pidfileError(path: string, error: unknown, forReading = false): TinydError {
  const code = (error as NodeJS.ErrnoException).code;
  let reason: string;
  switch (code) {
    case "ELOOP":
      reason = "it is a symbolic link; tinyd does not follow links for pidfiles. Point -p at the real file";
      break;
    case "ENOENT":
      reason = "its directory does not exist. Create the directory or choose another path";
      break;
    case "ENOTDIR":
      reason = "a component of the path is not a directory";
      break;
    case "EACCES":
    case "EPERM":
      reason = forReading
        ? "permission denied. Run as a user that may read it, such as its owner or root"
        : "permission denied. Choose a directory you can write to, or run with the needed privileges";
      break;
    case "EISDIR":
      reason = "it is a directory";
      break;
    default:
      reason = (error as Error).message;
  }
  return new TinydError("E_PIDFILE", `cannot open pidfile ${path}: ${reason}`, ExitCode.CANNOT_CREATE, {
    path,
    errno: code,
  });
}

function openForLock(path: string): { fd: number; created: boolean } {
  const base = fs.O_RDONLY | fs.O_NOFOLLOW | constants.O_CLOEXEC;
  try {
    return { fd: openSync(path, base | fs.O_CREAT | fs.O_EXCL, PIDFILE_MODE), created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw pidfileError(path, error);
  }
  try {
    return { fd: openSync(path, base), created: false };
  } catch (error) {
    // Removed between the two opens: the caller starts over.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { fd: -1, created: false };
    throw pidfileError(path, error);
  }
}

/** Opens the locked file again for writing; returns -1 when the path now names another file. */
function openWriter(lockedFd: number, path: string): number {
  let writeFd: number;
  try {
    writeFd = openSync(path, fs.O_WRONLY | fs.O_NOFOLLOW | constants.O_CLOEXEC);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return -1;
    throw pidfileError(path, error);
  }
  const locked = fstatSync(lockedFd);
  const written = fstatSync(writeFd);
  if (locked.dev !== written.dev || locked.ino !== written.ino) {
    closeSync(writeFd);
    return -1;
  }
  return writeFd;
}

function sameFile(fd: number, path: string): boolean {
  try {
    const opened = fstatSync(fd);
    const named = lstatSync(path);
    return opened.dev === named.dev && opened.ino === named.ino;
  } catch {
    return false;
  }
}

function tryLock(fd: number, operation: number): boolean {
  for (let attempt = 1; ; attempt++) {
    if (flock(fd, operation | constants.LOCK_NB)) return true;
    if (attempt === LOCK_ATTEMPTS) return false;
    Bun.sleepSync(LOCK_RETRY_MS);
  }
}

function readTextFromFd(fd: number): string {
  const buffer = Buffer.alloc(64);
  const length = readSync(fd, buffer, 0, buffer.length, 0);
  return buffer.subarray(0, length).toString("latin1");
}

function readPidFromFd(fd: number): number | null {
  return parsePid(readTextFromFd(fd));
}

export function parsePid(text: string): number | null {
  const match = /^\s*(\d{1,10})\s*$/.exec(text);
  if (!match) return null;
  const pid = Number(match[1]);
  return pid > 0 && pid <= 0x7fffffff ? pid : null;
}

/**
 * Opens the pidfile without following a symbolic link, takes an exclusive
 * lock, and empties it. Throws E_ALREADY_RUNNING when another process holds
 * the lock, and E_PIDFILE when the file cannot be opened.
 */
export function acquirePidfile(path: string): PidfileLock {
  for (let attempt = 0; attempt < REPLACED_ATTEMPTS; attempt++) {
    const { fd, created } = openForLock(path);
    if (fd < 0) continue;

    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) {
        throw new TinydError("E_PIDFILE", `cannot use pidfile ${path}: it is not a regular file`, ExitCode.CANNOT_CREATE, { path });
      }
      if (!tryLock(fd, constants.LOCK_EX)) {
        const pid = readPidFromFd(fd);
        if (pid !== null && !isAlive(pid)) {
          throw new TinydError(
            "E_ALREADY_RUNNING",
            `${path} is still locked, but pid ${pid} in it has exited; a process that it started holds the lock. Find it with 'fuser ${path}'`,
            ExitCode.FAILURE,
            { path, pid },
          );
        }
        const holder = pid === null ? "another process" : `pid ${pid}`;
        throw new TinydError("E_ALREADY_RUNNING", `already running as ${holder} (${path})`, ExitCode.FAILURE, { path, pid });
      }
      // The previous holder may have removed or replaced the file between our
      // open and our lock, and a lock on an unlinked inode protects nothing.
      if (!sameFile(fd, path)) {
        closeSync(fd);
        continue;
      }
      const writeFd = openWriter(fd, path);
      if (writeFd < 0) {
        closeSync(fd);
        continue;
      }
      ftruncateSync(writeFd, 0);
      return { path, fd, writeFd, created };
    } catch (error) {
      closeSync(fd);
      if (error instanceof PosixError) {
        throw new TinydError("E_PIDFILE", `cannot lock pidfile ${path}: ${error.message}`, ExitCode.CANNOT_CREATE, { path });
      }
      throw error;
    }
  }
  throw new TinydError("E_PIDFILE", `cannot lock pidfile ${path}: it was replaced ${REPLACED_ATTEMPTS} times while tinyd locked it`, ExitCode.TEMPORARY_FAILURE, { path });
}

/**
 * Releases a lock taken by acquirePidfile. With `remove`, the file is unlinked
 * first, while the lock still guards it.
 */
export function releasePidfile(lock: PidfileLock, remove: boolean): void {
  if (remove && sameFile(lock.fd, lock.path)) {
    try {
      unlinkSync(lock.path);
    } catch {
      // Already gone: nothing to clean up.
    }
  }
  closeSync(lock.writeFd);
  closeSync(lock.fd);
}

/**
 * Reads a pidfile and checks whether it is locked, without following a
 * symbolic link. Throws E_PIDFILE when the file exists but cannot be read.
 */
export function readPidfile(path: string): PidfileState {
  let fd: number;
  try {
    fd = openSync(path, fs.O_RDONLY | fs.O_NOFOLLOW | fs.O_NONBLOCK | constants.O_CLOEXEC);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { path, exists: false, locked: false, pid: null };
    throw pidfileError(path, error, true);
  }

  try {
    if (!fstatSync(fd).isFile()) {
      throw new TinydError("E_PIDFILE", `cannot use pidfile ${path}: it is not a regular file`, ExitCode.CANNOT_CREATE, { path });
    }
    const text = readTextFromFd(fd);
    const pid = parsePid(text);
    // If we can take a shared lock, no process holds the exclusive one.
    const free = flock(fd, constants.LOCK_SH | constants.LOCK_NB);
    if (free) flock(fd, constants.LOCK_UN);
    return { path, exists: true, locked: !free, pid, malformed: pid === null && text.trim() !== "" };
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes the pidfile of a daemon that has exited, as its last step of a
 * stop. The daemon cannot remove a file it holds only read-only, often in a
 * directory it may not write to. The file is removed only under our own
 * exclusive lock and only while it still names `pid` (or nothing), so a
 * daemon started in the meantime keeps its pidfile. Returns whether it was
 * removed.
 */
export function removeStalePidfile(path: string, pid: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, fs.O_RDONLY | fs.O_NOFOLLOW | fs.O_NONBLOCK | constants.O_CLOEXEC);
  } catch {
    return false;
  }
  try {
    if (!fstatSync(fd).isFile() || !flock(fd, constants.LOCK_EX | constants.LOCK_NB)) return false;
    const named = readPidFromFd(fd);
    if ((named !== null && named !== pid) || !sameFile(fd, path)) return false;
    unlinkSync(path);
    return true;
  } catch {
    // For example no write permission on the directory: the file stays, unlocked and so stale.
    return false;
  } finally {
    closeSync(fd);
  }
}
