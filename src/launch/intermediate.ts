/**
 * The intermediate process of the fallback launch. It is already a session
 * leader (its parent spawned it detached), holds the daemon's stdio on 0-2
 * and the pidfile lock on 3, and reads the launch request on 4.
 */
import { existsSync, ftruncateSync, readSync, statSync, writeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { umask, unblockAllSignals } from "../posix/libc";
import { INTERMEDIATE_FD } from "./fallback";
import { applyCredentials, applyResources, type IntermediateFailure } from "./intermediate-privileges";
import { type LaunchRequest, LaunchStep } from "./request";

function readRequest(): LaunchRequest {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(65536);
  for (;;) {
    const length = readSync(INTERMEDIATE_FD.request, buffer, 0, buffer.length, null);
    if (length === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, length)));
  }
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as LaunchRequest;
}

function report(line: string): void {
  writeSync(INTERMEDIATE_FD.report, `${line}\n`);
}

function errnoOf(error: unknown): number {
  const code = (error as NodeJS.ErrnoException).code ?? "";
  return (osConstants.errno as Record<string, number>)[code] ?? 0;
}

function toEnvObject(entries: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf("=");
    env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return env;
}

function failIf(failure: IntermediateFailure | null): void {
  if (failure === null) return;
  report(`error ${failure.step} ${failure.errno}${failure.failedLimit === undefined ? "" : ` ${failure.failedLimit}`}`);
  process.exit(71);
}

export function runIntermediate(): never {
  let request: LaunchRequest;
  try {
    request = readRequest();
  } catch {
    process.exit(70);
  }

  if (request.umask !== null) umask(request.umask);
  // Bun.spawn resets ignored signals in the child but passes the mask on.
  if (request.resetSignals) unblockAllSignals();

  failIf(applyResources(request));

  const cwd = request.cwd ?? process.cwd();
  if (!existsSync(cwd) || !statSync(cwd).isDirectory()) {
    report(`error ${LaunchStep.Chdir} ${osConstants.errno.ENOENT}`);
    process.exit(71);
  }
  // The intermediate changes directory itself, before it gives up its
  // privileges. Bun.spawn without `cwd` does no chdir, so the daemon inherits
  // the directory even where its user could not enter it, as in the native launch.
  try {
    process.chdir(cwd);
  } catch (error) {
    report(`error ${LaunchStep.Chdir} ${errnoOf(error)}`);
    process.exit(71);
  }
  failIf(applyCredentials(request));

  const stdio: (string | number)[] = ["inherit", "inherit", "inherit", request.lockFd === null ? "ignore" : INTERMEDIATE_FD.lock];
  // Readiness: the notification pipe goes to its number, with the slots below it closed.
  if (request.notifyFd) {
    while (stdio.length <= request.notifyFd.target) stdio.push("ignore");
    stdio[request.notifyFd.target] = INTERMEDIATE_FD.notify;
  }

  let child: Bun.Subprocess;
  try {
    child = Bun.spawn([request.path, ...request.argv.slice(1)], {
      argv0: request.argv[0],
      env: toEnvObject(request.env),
      stdio: stdio as never,
    });
  } catch (error) {
    report(`error ${LaunchStep.Exec} ${errnoOf(error)}`);
    process.exit(127);
  }

  if (request.pidWriteFd != null) {
    try {
      ftruncateSync(INTERMEDIATE_FD.pid, 0);
      writeSync(INTERMEDIATE_FD.pid, `${child.pid}\n`, 0);
    } catch (error) {
      child.kill(9);
      report(`error ${LaunchStep.Pidfile} ${errnoOf(error)}`);
      process.exit(71);
    }
  }

  child.unref();
  report(`pid ${child.pid}`);
  process.exit(0);
}
