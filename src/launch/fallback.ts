/**
 * The fallback launch, for runtimes without bun:ffi's compiler (Bun's FreeBSD
 * build, or Bun started with --no-ffi-cc).
 *
 * tinyd runs itself again as a short-lived intermediate: Bun.spawn with
 * `detached` makes it a session leader, and it starts the command with
 * Bun.spawn, writes the pidfile and exits. The command ends up as in the
 * native launch: in a new session without being its leader, reparented to
 * init, with clean signals and only the descriptors it was given.
 */
import { closeSync, readSync, writeSync } from "node:fs";
import { ExitCode, TinydError } from "../errors";
import { pipe } from "../posix/libc";
import { ROLE_ENV, selfCommand } from "../self";
import { type LaunchRequest, type LaunchResult, LaunchStep } from "./request";

/** Descriptor numbers in the intermediate. */
export const INTERMEDIATE_FD = { lock: 3, request: 4, report: 5, pid: 6, notify: 7 } as const;

function readAll(fd: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(4096);
  for (;;) {
    let length: number;
    try {
      length = readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EAGAIN" || (error as NodeJS.ErrnoException).code === "EINTR") continue;
      throw error;
    }
    if (length === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, length)));
  }
  return Buffer.concat(chunks).toString("utf8");
}

function writeAll(fd: number, text: string): void {
  const data = Buffer.from(text);
  for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset);
}

/** Parses the intermediate's report: "pid N" or "error STEP ERRNO", with the failed limit's index after it at step Limits. */
export function parseReport(text: string): LaunchResult {
  const pid = /^pid (\d+)$/m.exec(text);
  const error = /^error (\d+) (\d+)(?: (\d+))?$/m.exec(text);
  if (error) {
    const failed: LaunchResult = { ok: false, step: Number(error[1]) as LaunchStep, errno: Number(error[2]) };
    return error[3] === undefined ? failed : { ...failed, failedLimit: Number(error[3]) };
  }
  if (pid) return { ok: true, pid: Number(pid[1]) };
  return { ok: false, step: LaunchStep.Report, errno: 0 };
}

export async function launchFallback(request: LaunchRequest): Promise<LaunchResult> {
  if (request.foreground) {
    // NOTE: Bun cannot exec in place without the compiler, so the fallback's
    // foreground mode runs the command as a child and waits for it.
    throw new Error("foreground mode needs the native launch");
  }
  const [requestRead, requestWrite] = pipe();
  const [reportRead, reportWrite] = pipe();
  const stdio = (fd: number | null) => (fd === null ? "inherit" : fd);

  let intermediate: Bun.Subprocess;
  try {
    intermediate = Bun.spawn(selfCommand(new URL("./intermediate-main.ts", import.meta.url)), {
      stdio: [
        stdio(request.stdin),
        stdio(request.stdout),
        stdio(request.stderr),
        request.lockFd ?? "ignore",
        requestRead,
        reportWrite,
        request.pidWriteFd ?? "ignore",
        ...(request.notifyFd ? [request.notifyFd.source] : []),
      ] as never,
      env: { ...process.env, [ROLE_ENV.intermediate]: "1" },
      detached: true,
    });
  } catch (error) {
    closeSync(requestWrite);
    closeSync(reportRead);
    throw new TinydError(
      "E_LAUNCH",
      `cannot start tinyd again for the fallback launch (${process.execPath}): ${(error as Error).message.replace(/^\w+: /, "")}. The user running tinyd must be able to execute it`,
      ExitCode.OS_ERROR,
    );
  } finally {
    closeSync(requestRead);
    closeSync(reportWrite);
  }

  try {
    writeAll(
      requestWrite,
      JSON.stringify({
        ...request,
        stdin: null,
        stdout: null,
        stderr: null,
        lockFd: request.lockFd === null ? null : INTERMEDIATE_FD.lock,
        pidWriteFd: request.pidWriteFd == null ? null : INTERMEDIATE_FD.pid,
        notifyFd: request.notifyFd ? { source: INTERMEDIATE_FD.notify, target: request.notifyFd.target } : null,
      }),
    );
  } finally {
    closeSync(requestWrite);
  }

  const report = readAll(reportRead);
  closeSync(reportRead);
  await intermediate.exited;
  return parseReport(report);
}
