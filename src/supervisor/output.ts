/**
 * The supervisor's output: the child's stdout and stderr, read from pipes,
 * written whole line by line to the log files and to syslog.
 *
 * The log files are the supervisor's own stdout and stderr, which the launcher
 * opened before detaching so that errors reached the caller. Reopening (on
 * SIGHUP with -H) and rotation open the path again and dup2 the new file over
 * those descriptors.
 */
import { closeSync, constants as fs, fstatSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { constants } from "../posix/constants";
import { dup2 } from "../posix/libc";
import type { SupervisorConfig } from "./config";
import type { SyslogClient } from "./syslog";

const LOG_MODE = 0o640;
const NEWLINE = 0x0a;
/** Length at which a line without a newline is cut, as journald's LineMax does (48 KiB there). */
export const MAX_LINE_BYTES = 64 * 1024;

/** Splits a byte stream into whole lines and keeps the partial rest. */
export class LineSplitter {
  /** The partial line, kept as the chunks it arrived in so that each byte is copied once. */
  private rest: Uint8Array[] = [];
  private restBytes = 0;

  /**
   * Returns the complete lines of `chunk` and what came before it, newlines
   * included, as one buffer. A partial line that reaches MAX_LINE_BYTES is
   * returned as a line of its own, so that one endless line cannot grow
   * without bound.
   */
  push(chunk: Uint8Array): Buffer | null {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last < 0) {
      this.rest.push(Buffer.from(chunk));
      this.restBytes += chunk.length;
      if (this.restBytes < MAX_LINE_BYTES) return null;
      // Whole pieces of MAX_LINE_BYTES go out now; the remainder stays partial.
      const partial = Buffer.concat(this.rest);
      const cut = partial.length - (partial.length % MAX_LINE_BYTES);
      const tail = partial.subarray(cut);
      this.rest = tail.length > 0 ? [Buffer.from(tail)] : [];
      this.restBytes = tail.length;
      return cutLongLines(Buffer.concat([partial.subarray(0, cut), NEWLINE_BYTES]));
    }

    const first = chunk.indexOf(NEWLINE);
    let whole: Buffer = Buffer.concat([...this.rest, chunk.subarray(0, last + 1)]);
    // Only a line that began before this chunk, or a chunk longer than the
    // limit, can be too long: most chunks skip the scan.
    if (this.restBytes + first >= MAX_LINE_BYTES || chunk.length > MAX_LINE_BYTES) whole = cutLongLines(whole);
    const tail = chunk.subarray(last + 1);
    this.rest = tail.length > 0 ? [Buffer.from(tail)] : [];
    this.restBytes = tail.length;
    return whole;
  }

  /** Returns the partial line with a newline added, and clears it. */
  flush(): Buffer | null {
    if (this.restBytes === 0) return null;
    const line = Buffer.concat([...this.rest, Buffer.from("\n")]);
    this.rest = [];
    this.restBytes = 0;
    return line;
  }
}

/** One log file, written through one or two of the supervisor's stdio descriptors. */
export class LogFile {
  private size: number;

  constructor(
    readonly path: string,
    /** The descriptors that point at the file: [1], [2] or [1, 2]. */
    private readonly fds: number[],
    private readonly maxSizeBytes: number | null,
    private readonly keep: number,
    private readonly onError: (message: string) => void,
  ) {
    this.size = fstatSync(fds[0]!).size;
  }

  write(data: Uint8Array): void {
    for (let offset = 0; offset < data.length; ) {
      try {
        offset += writeSync(this.fds[0]!, data, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EAGAIN") continue;
        this.onError(`cannot write to ${this.path}: ${(error as Error).message}`);
        return;
      }
    }
    this.size += data.length;
    if (this.maxSizeBytes !== null && this.size >= this.maxSizeBytes) this.rotate();
  }

  /** Opens the path again, for a file that logrotate or newsyslog moved away. */
  reopen(): void {
    let fd: number;
    try {
      fd = openSync(this.path, fs.O_WRONLY | fs.O_APPEND | fs.O_CREAT | constants.O_CLOEXEC, LOG_MODE);
    } catch (error) {
      this.onError(`cannot reopen ${this.path}: ${(error as Error).message}; still writing to the old file`);
      return;
    }
    for (const target of this.fds) dup2(fd, target);
    this.size = fstatSync(fd).size;
    closeSync(fd);
  }

  /** Renames FILE to FILE.1, FILE.1 to FILE.2 and so on up to `keep`, then starts a new FILE. */
  private rotate(): void {
    try {
      unlinkSync(`${this.path}.${this.keep}`);
    } catch {
      // Fewer rotated files than `keep` so far.
    }
    for (let index = this.keep - 1; index >= 1; index--) {
      try {
        renameSync(`${this.path}.${index}`, `${this.path}.${index + 1}`);
      } catch {
        // That generation does not exist yet.
      }
    }
    try {
      renameSync(this.path, `${this.path}.1`);
    } catch (error) {
      this.onError(`cannot rotate ${this.path}: ${(error as Error).message}`);
      return;
    }
    this.reopen();
  }
}

export type Stream = 1 | 2;

/** Routes the child's lines and the supervisor's own messages to files and syslog. */
export class OutputRouter {
  private readonly files: Partial<Record<Stream, LogFile>> = {};
  private readonly splitters: Record<Stream, LineSplitter> = { 1: new LineSplitter(), 2: new LineSplitter() };

  constructor(
    private readonly config: SupervisorConfig,
    private readonly syslog: SyslogClient | null,
  ) {
    const report = (message: string) => this.syslog?.send(3, `tinyd: ${message}`);
    if (config.stdout !== null && config.stdout === config.stderr) {
      const file = new LogFile(config.stdout, [1, 2], config.maxSizeBytes, config.keep, report);
      this.files[1] = file;
      this.files[2] = file;
    } else {
      if (config.stdout !== null) this.files[1] = new LogFile(config.stdout, [1], config.maxSizeBytes, config.keep, report);
      if (config.stderr !== null) this.files[2] = new LogFile(config.stderr, [2], config.maxSizeBytes, config.keep, report);
    }
  }

  /** True when the child's output goes anywhere, so that it needs pipes. */
  get capturesOutput(): boolean {
    return this.files[1] !== undefined || this.files[2] !== undefined || this.syslog !== null;
  }

  private wanted(stream: Stream): boolean {
    return (this.config.outputMask & stream) !== 0;
  }

  /** Takes a chunk the child wrote to `stream`; whole lines go out at once. */
  childOutput(stream: Stream, chunk: Uint8Array): void {
    if (!this.wanted(stream)) return;
    const lines = this.splitters[stream].push(chunk);
    if (lines) this.emit(stream, lines);
  }

  /** Writes out a partial last line, once the child has ended. */
  flushChild(stream: Stream): void {
    const line = this.splitters[stream].flush();
    if (line && this.wanted(stream)) this.emit(stream, line);
  }

  private emit(stream: Stream, lines: Buffer): void {
    const file = this.files[stream];
    if (file) file.write(this.config.timestamps ? stampLines(lines) : lines);
    if (this.syslog) {
      const severity = stream === 1 ? this.config.syslog!.priority : this.config.syslog!.stderrPriority;
      for (const line of splitLines(lines)) {
        if (line.length > 0) this.syslog.send(severity, line);
      }
    }
  }

  /** Logs a message of the supervisor itself, such as a restart. */
  message(text: string, severity: number): void {
    const line = Buffer.from(`tinyd[${process.pid}]: ${text}\n`);
    const file = this.files[2] ?? this.files[1];
    if (file) file.write(this.config.timestamps ? stampLines(line) : line);
    this.syslog?.send(severity, `tinyd: ${text}`);
  }

  reopen(): void {
    const files = new Set(Object.values(this.files));
    for (const file of files) file.reopen();
  }
}

const NEWLINE_BYTES = Buffer.from("\n");

/** Cuts every line longer than MAX_LINE_BYTES into pieces of that length, each ending in a newline. */
function cutLongLines(lines: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (let end = lines.indexOf(NEWLINE); end >= 0; end = lines.indexOf(NEWLINE, start)) {
    for (let piece = start; end - piece > MAX_LINE_BYTES; piece += MAX_LINE_BYTES) {
      parts.push(lines.subarray(piece, piece + MAX_LINE_BYTES), NEWLINE_BYTES);
      start = piece + MAX_LINE_BYTES;
    }
    parts.push(lines.subarray(start, end + 1));
    start = end + 1;
  }
  return Buffer.concat(parts);
}

/** Splits newline-terminated lines into their bytes, without the newlines and without decoding them. */
function splitLines(lines: Buffer): Buffer[] {
  const result: Buffer[] = [];
  let start = 0;
  for (let end = lines.indexOf(NEWLINE); end >= 0; end = lines.indexOf(NEWLINE, start)) {
    result.push(lines.subarray(start, end));
    start = end + 1;
  }
  return result;
}

/**
 * Prefixes each line, empty ones included, with an ISO-8601 time in UTC.
 * It works on bytes, so output that is not UTF-8 passes unchanged.
 */
function stampLines(lines: Buffer): Buffer {
  const stamp = Buffer.from(`${new Date().toISOString()} `);
  let count = 0;
  for (let at = lines.indexOf(NEWLINE); at >= 0; at = lines.indexOf(NEWLINE, at + 1)) count += 1;

  // One buffer of the final size, filled by copies: a concat of three parts per line is several times slower.
  const stamped = Buffer.allocUnsafe(lines.length + count * stamp.length);
  let written = 0;
  let start = 0;
  for (let end = lines.indexOf(NEWLINE); end >= 0; end = lines.indexOf(NEWLINE, start)) {
    written += stamp.copy(stamped, written);
    written += lines.copy(stamped, written, start, end + 1);
    start = end + 1;
  }
  return stamped.subarray(0, written);
}
