/**
 * Files and locks that a start opens and must give back when it fails: the
 * pidfile lock and the output files, with those it created removed.
 */
import { closeSync, constants as fs, fstatSync, openSync, unlinkSync } from "node:fs";
import { ExitCode, TinydError } from "./errors";
import { type PidfileLock, releasePidfile } from "./pidfile";
import { constants } from "./posix/constants";
import { strerror } from "./posix/libc";

/** Log files are readable by the owner and the owner's group only. */
const OUTPUT_MODE = 0o640;

interface OpenedFile {
  path: string;
  fd: number;
  created: boolean;
}

export function openOutput(path: string): OpenedFile {
  const flags = fs.O_WRONLY | fs.O_APPEND | constants.O_CLOEXEC;
  try {
    return { path, fd: openSync(path, flags | fs.O_CREAT | fs.O_EXCL, OUTPUT_MODE), created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw outputError(path, error);
  }
  try {
    const fd = openSync(path, flags);
    if (fstatSync(fd).isDirectory()) {
      closeSync(fd);
      throw outputError(path, Object.assign(new Error("is a directory"), { code: "EISDIR" }));
    }
    return { path, fd, created: false };
  } catch (error) {
    if (error instanceof TinydError) throw error;
    throw outputError(path, error);
  }
}

function outputError(path: string, error: unknown): TinydError {
  const code = (error as NodeJS.ErrnoException).code;
  const reasons: Record<string, string> = {
    EACCES: "permission denied. Choose a file you can write to",
    EPERM: "permission denied. Choose a file you can write to",
    EISDIR: "it is a directory. Name a file",
    ENOENT: "its directory does not exist, or it is a dangling symbolic link. Create the directory or choose another path",
    EROFS: "the file system is read-only. Choose a file on a writable one",
    ENOTDIR: "a component of the path is not a directory",
  };
  const errno = (error as { errno?: number }).errno;
  const reason = (code && reasons[code]) ?? (typeof errno === "number" ? strerror(Math.abs(errno)) : (error as Error).message);
  return new TinydError("E_OUTPUT", `cannot open output file ${path}: ${reason}`, ExitCode.CANNOT_CREATE, { path, errno: code });
}

/** Files and locks that a failed start must give back. */
export class StartResources {
  pidfile: PidfileLock | null = null;
  files: OpenedFile[] = [];

  open(path: string | null): number | null {
    if (path === null) return null;
    const known = this.files.find((file) => file.path === path);
    if (known) return known.fd;
    const file = openOutput(path);
    this.files.push(file);
    return file.fd;
  }

  /** Keeps the output files even after a failure, because a daemon that ran has written to them. */
  keepOutputFiles(): void {
    for (const file of this.files) file.created = false;
  }

  /** Closes everything; after a failure also removes what this start created. */
  release(failed: boolean): void {
    for (const file of this.files) {
      closeSync(file.fd);
      if (failed && file.created) {
        try {
          // The daemon never ran, so nothing but this start has touched the file.
          unlinkSync(file.path);
        } catch {
          // Already gone.
        }
      }
    }
    this.files = [];
    if (this.pidfile) releasePidfile(this.pidfile, failed && this.pidfile.created);
    this.pidfile = null;
  }
}
