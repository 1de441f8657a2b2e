/**
 * Resource limits (setrlimit) and niceness of the daemon: parsing of
 * --limit, --core, --no-core and --nice, and the checks that tell before the
 * launch whether tinyd may set them.
 */
import { readFileSync } from "node:fs";
import { ExitCode, TinydError, usageError } from "./errors";
import type { ResourceLimit } from "./launch/request";
import type { ResourceName } from "./posix/constants";
import { getrlimit } from "./posix/libc";

/** Each resource's unit, for the messages; limits in bytes also take a K, M, G or T suffix. */
const RESOURCE_UNITS: Record<ResourceName, "bytes" | "seconds" | "count"> = {
  as: "bytes",
  core: "bytes",
  cpu: "seconds",
  fsize: "bytes",
  memlock: "bytes",
  nofile: "count",
  nproc: "count",
  stack: "bytes",
};

export const RESOURCE_NAMES = Object.keys(RESOURCE_UNITS).sort() as ResourceName[];

/** Binary multiples, as ulimit and systemd read them. */
const SUFFIXES: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

const NICE_MIN = -20;
const NICE_MAX = 19;

export type LimitsOption = readonly string[] | Readonly<Record<string, number | string>>;

function isResourceName(name: string): name is ResourceName {
  return Object.hasOwn(RESOURCE_UNITS, name);
}

/** Parses one side of SOFT:HARD: "unlimited" (or "infinity"), a number, or for byte limits a number with a suffix. */
function parseValue(name: ResourceName, text: string, spec: string): number | null {
  if (/^(unlimited|infinity)$/i.test(text)) return null;
  const bytes = RESOURCE_UNITS[name] === "bytes";
  const match = (bytes ? /^(\d+)([KMGT]?)$/i : /^(\d+)()$/).exec(text);
  const value = match ? Number(match[1]) * SUFFIXES[match[2]!.toUpperCase()]! : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    let expected = "a whole number";
    if (bytes) expected = "a number of bytes, with an optional K, M, G or T suffix,";
    else if (RESOURCE_UNITS[name] === "seconds") expected = "a number of seconds";
    throw usageError(`invalid limit '${spec}': '${text}' is not ${expected} or 'unlimited'`, { limit: spec });
  }
  return value;
}

/** Parses NAME=SOFT[:HARD]; one value sets both limits, as prlimit(1) does. */
function parseSpec(name: string, value: string, spec: string): ResourceLimit {
  const key = name.trim().toLowerCase();
  if (!isResourceName(key)) {
    throw usageError(`invalid limit '${spec}': unknown resource '${name}'. Choose one of ${RESOURCE_NAMES.join(", ")}`, { limit: spec });
  }
  const parts = value.trim().split(":");
  if (parts.length > 2 || parts.some((part) => part === "")) {
    throw usageError(`invalid limit '${spec}': expected ${key}=SOFT or ${key}=SOFT:HARD`, { limit: spec });
  }
  const soft = parseValue(key, parts[0]!, spec);
  const hard = parts.length === 2 ? parseValue(key, parts[1]!, spec) : soft;
  if (hard !== null && (soft === null || soft > hard)) {
    throw usageError(`invalid limit '${spec}': the soft limit is above the hard limit`, { limit: spec });
  }
  return { name: key, soft, hard };
}

/**
 * Parses --limit values and the --core/--no-core shorthand into one limit per
 * resource. A later value for the same resource replaces an earlier one.
 * Throws E_USAGE naming the first invalid value.
 */
export function parseLimits(limits: LimitsOption | undefined, core: boolean | undefined): ResourceLimit[] {
  const byName = new Map<ResourceName, ResourceLimit>();
  const entries: [string, string, string][] = Array.isArray(limits)
    ? (limits as readonly string[]).map((spec) => {
        const at = spec.indexOf("=");
        if (at <= 0) throw usageError(`invalid limit '${spec}': expected NAME=SOFT[:HARD], such as nofile=4096 or core=unlimited`, { limit: spec });
        return [spec.slice(0, at), spec.slice(at + 1), spec];
      })
    : Object.entries((limits ?? {}) as Record<string, number | string>).map(([name, value]) => [name, String(value), `${name}=${value}`]);

  for (const [name, value, spec] of entries) {
    const limit = parseSpec(name, value, spec);
    byName.set(limit.name, limit);
  }

  if (core !== undefined) {
    if (byName.has("core")) throw usageError(`--${core ? "core" : "no-core"} and --limit core=… contradict each other: give one of them`);
    byName.set("core", { name: "core", soft: core ? null : 0, hard: core ? null : 0 });
  }
  return [...byName.values()];
}

/** Parses --nice: a niceness from -20 (highest priority) to 19. */
export function parseNice(value: number | string | undefined): number | null {
  if (value === undefined) return null;
  const text = String(value).trim();
  const nice = /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(nice >= NICE_MIN && nice <= NICE_MAX)) {
    throw usageError(`invalid --nice '${value}': expected a niceness from ${NICE_MIN} to ${NICE_MAX}`, { nice: value });
  }
  return nice;
}

export function formatLimit(limit: ResourceLimit): string {
  const side = (value: number | null) => (value === null ? "unlimited" : String(value));
  return limit.soft === limit.hard ? `${limit.name}=${side(limit.soft)}` : `${limit.name}=${side(limit.soft)}:${side(limit.hard)}`;
}

/** Linux caps the nofile limit at fs.nr_open, even for root, and refuses unlimited. */
function linuxMaxOpenFiles(): number | null {
  if (process.platform !== "linux") return null;
  try {
    return Number(readFileSync("/proc/sys/fs/nr_open", "latin1").trim()) || null;
  } catch {
    return null;
  }
}

/** Throws E_USAGE for a limit that the system rejects even for root. */
export function checkLimitsSupported(limits: readonly ResourceLimit[]): void {
  const nofile = limits.find((limit) => limit.name === "nofile");
  const max = nofile ? linuxMaxOpenFiles() : null;
  if (nofile && max !== null && (nofile.hard === null || nofile.hard > max)) {
    throw usageError(`invalid limit '${formatLimit(nofile)}': Linux caps nofile at fs.nr_open, ${max} here. Give at most ${max}`, { limit: formatLimit(nofile) });
  }
}

/**
 * Throws E_PERMISSION when a limit would raise a hard limit above its
 * current value, which needs root. Run without root only: it reads the
 * launcher's own limits, which the daemon inherits.
 */
export function checkLimitsAllowed(limits: readonly ResourceLimit[]): void {
  for (const limit of limits) {
    const hard = getrlimit(limit.name).hard;
    const current = hard === Number.POSITIVE_INFINITY ? null : hard;
    const raises = current !== null && (limit.hard === null || limit.hard > current);
    if (raises) {
      throw new TinydError(
        "E_PERMISSION",
        `cannot set limit ${formatLimit(limit)}: the hard limit is ${current} and only root can raise it. Run tinyd as root or stay within ${current}`,
        ExitCode.NO_PERMISSION,
        { limit: formatLimit(limit) },
      );
    }
  }
}
