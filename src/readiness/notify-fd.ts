/**
 * The listening end of s6's readiness protocol: the daemon gets the write
 * end of a pipe at a descriptor number agreed beforehand, writes a newline
 * to it once it is ready, and closes it.
 */
import { PosixError, close, pipe, read, setCloseOnExec, setNonBlocking } from "../posix/libc";

export { MAX_NOTIFY_FD, MIN_NOTIFY_FD, NOTIFY_FD_ENV } from "./variables";

export type PipeEvent = "ready" | "closed" | null;

export class NotifyPipe {
  private readonly buffer = new Uint8Array(256);
  private readFd: number;
  private writeFd: number;

  private constructor(
    /** Descriptor number the daemon gets the write end at. */
    readonly target: number,
    readFd: number,
    writeFd: number,
  ) {
    this.readFd = readFd;
    this.writeFd = writeFd;
  }

  /** Creates the pipe. Both ends are close-on-exec; the launch moves the write end to `target` without that flag. */
  static create(target: number): NotifyPipe {
    const [readFd, writeFd] = pipe();
    try {
      setCloseOnExec(readFd);
      setCloseOnExec(writeFd);
      setNonBlocking(readFd);
    } catch (error) {
      close(readFd);
      close(writeFd);
      throw error;
    }
    return new NotifyPipe(target, readFd, writeFd);
  }

  /** The launcher's copy of the write end, to hand to the launch; -1 once closed. */
  get source(): number {
    return this.writeFd;
  }

  /** Closes the launcher's copy of the write end, so that end of file means the daemon closed its copy. */
  closeWriteEnd(): void {
    if (this.writeFd < 0) return;
    close(this.writeFd);
    this.writeFd = -1;
  }

  /**
   * Reads what is pending without waiting. Returns "ready" once a newline
   * arrived, "closed" at end of file without one, and null otherwise.
   */
  check(): PipeEvent {
    while (this.readFd >= 0) {
      let length: number;
      try {
        length = read(this.readFd, this.buffer);
      } catch (error) {
        if (error instanceof PosixError && (error.code === "EAGAIN" || error.code === "EWOULDBLOCK" || error.code === "EINTR" || error.errno === 0)) {
          // errno 0: the path without a compiler cannot tell EAGAIN from other failures.
          return null;
        }
        throw error;
      }
      if (length === 0) {
        this.closeReadEnd();
        return "closed";
      }
      if (this.buffer.subarray(0, length).includes(0x0a)) return "ready";
    }
    return null;
  }

  private closeReadEnd(): void {
    if (this.readFd < 0) return;
    close(this.readFd);
    this.readFd = -1;
  }

  close(): void {
    this.closeWriteEnd();
    this.closeReadEnd();
  }
}
