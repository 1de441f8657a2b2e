/**
 * Privileges and resources in the fallback launch. The intermediate applies
 * them to itself before it spawns the daemon, which inherits every one of
 * them: the intermediate is disposable, so unlike the launcher it may give
 * up root. The order is the native launch's: limits, niceness, chroot, then
 * (after the intermediate's chdir) the user and groups.
 */
import { setPriority } from "node:os";
import { CredentialsError, switchCredentials } from "../identity";
import { setrlimit } from "../posix/libc";
import { chroot } from "../posix/resources";
import { type LaunchRequest, LaunchStep } from "./request";

export interface IntermediateFailure {
  step: LaunchStep;
  /** 0 where the call cannot report errno (the direct libc calls). */
  errno: number;
  failedLimit?: number;
}

function errnoOf(error: unknown): number {
  // Bun 1.4.5 reports errno of os.setPriority() as a negative number, libuv's convention.
  return Math.abs(Number((error as { errno?: number }).errno ?? 0)) || 0;
}

/** Sets the limits, the niceness and the root directory. Returns the first failure, or null. */
export function applyResources(request: LaunchRequest): IntermediateFailure | null {
  for (const [index, limit] of request.limits.entries()) {
    try {
      setrlimit(limit.name, { soft: limit.soft ?? Number.POSITIVE_INFINITY, hard: limit.hard ?? Number.POSITIVE_INFINITY });
    } catch {
      return { step: LaunchStep.Limits, errno: 0, failedLimit: index };
    }
  }

  if (request.nice !== null) {
    try {
      // Linux keeps the niceness per thread, and Bun.spawn forks from this
      // (the main) thread, so the daemon inherits it (measured with Bun 1.4.5).
      setPriority(0, request.nice);
    } catch (error) {
      return { step: LaunchStep.Nice, errno: errnoOf(error) };
    }
  }

  if (request.chroot !== null) {
    try {
      chroot(request.chroot);
    } catch {
      return { step: LaunchStep.Chroot, errno: 0 };
    }
  }
  return null;
}

const STEP_OF_CALL: Record<CredentialsError["call"], LaunchStep> = {
  setgroups: LaunchStep.Setgroups,
  setgid: LaunchStep.Setgid,
  setuid: LaunchStep.Setuid,
  regain: LaunchStep.RootRegained,
};

/** Switches the intermediate to the daemon's user and groups. Returns the failure, or null. */
export function applyCredentials(request: LaunchRequest): IntermediateFailure | null {
  if (request.credentials === null) return null;
  try {
    switchCredentials(request.credentials);
    return null;
  } catch (error) {
    if (!(error instanceof CredentialsError)) throw error;
    return { step: STEP_OF_CALL[error.call], errno: error.errno };
  }
}
