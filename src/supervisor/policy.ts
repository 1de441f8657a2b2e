/**
 * The restart policy of the supervisor: whether a child that ended is started
 * again, and after how long.
 *
 * Delays grow exponentially from the first delay up to a ceiling, with up to
 * 10 % jitter so that many services failing together do not restart in step.
 * A child that stayed up for the minimum uptime resets the backoff. A sliding
 * window caps the restarts per interval, as systemd's StartLimitBurst and
 * StartLimitIntervalSec do.
 */
import type { ExitStatus } from "../posix/libc";
import { signalName } from "../signals";

export interface RestartSettings {
  /** Restart at all; without it the supervisor ends with its child. */
  enabled: boolean;
  /** First delay in milliseconds. */
  delayMs: number;
  /** Ceiling of the exponential backoff in milliseconds. */
  maxDelayMs: number;
  /** Uptime in milliseconds after which the backoff starts over. */
  minUptimeMs: number;
  /** "failure" skips the restart after exit status 0. */
  on: "always" | "failure";
  /** Exit codes that end the service instead of restarting it. */
  noRestartExitCodes: number[];
  /** Maximum restarts within windowMs; null for no limit. */
  maxRestarts: number | null;
  windowMs: number;
  /** Maximum restarts in the supervisor's lifetime; null for no limit. */
  totalLimit: number | null;
}

export const DEFAULT_RESTART_SETTINGS: RestartSettings = {
  enabled: false,
  delayMs: 1000,
  maxDelayMs: 60_000,
  minUptimeMs: 10_000,
  on: "always",
  noRestartExitCodes: [],
  maxRestarts: null,
  windowMs: 60_000,
  totalLimit: null,
};

export type RestartDecision = { restart: true; delayMs: number } | { restart: false; reason: string };

/** Describes an exit status as the supervisor logs it: "status 1" or "signal SIGKILL". */
export function describeExit(exit: ExitStatus): string {
  return exit.signal !== null ? `signal ${signalName(exit.signal)}` : `status ${exit.code}`;
}

const JITTER_FRACTION = 0.1;

export class RestartPolicy {
  /** Consecutive quick failures, the exponent of the backoff. */
  private attempt = 0;
  private restartTimes: number[] = [];
  private total = 0;

  constructor(
    private readonly settings: RestartSettings,
    private readonly random: () => number = Math.random,
  ) {}

  /** Restarts decided so far. */
  get restarts(): number {
    return this.total;
  }

  /** Decides what follows the end of a child that ran for `uptimeMs`, at time `nowMs`. */
  decide(exit: ExitStatus, uptimeMs: number, nowMs: number): RestartDecision {
    const { settings } = this;
    if (!settings.enabled) return { restart: false, reason: "restarts are off (use -r to turn them on)" };
    if (exit.code !== null && settings.noRestartExitCodes.includes(exit.code)) {
      return { restart: false, reason: `exit status ${exit.code} is listed in --no-restart-exit` };
    }
    if (settings.on === "failure" && exit.code === 0) return { restart: false, reason: "it exited with status 0 and --restart-on is failure" };
    if (settings.totalLimit !== null && this.total >= settings.totalLimit) {
      return { restart: false, reason: `it was restarted ${this.total} times, the limit of -C` };
    }

    this.restartTimes = this.restartTimes.filter((time) => nowMs - time < settings.windowMs);
    if (settings.maxRestarts !== null && this.restartTimes.length >= settings.maxRestarts) {
      return {
        restart: false,
        reason: `it was restarted ${this.restartTimes.length} times within ${settings.windowMs / 1000} s, the limit of --max-restarts`,
      };
    }

    if (uptimeMs >= settings.minUptimeMs) this.attempt = 0;
    const base = Math.min(settings.maxDelayMs, settings.delayMs * 2 ** this.attempt);
    const jitter = base * JITTER_FRACTION * (2 * this.random() - 1);
    const delayMs = Math.max(0, Math.min(settings.maxDelayMs, Math.round(base + jitter)));

    this.attempt += 1;
    this.total += 1;
    this.restartTimes.push(nowMs);
    return { restart: true, delayMs };
  }
}
