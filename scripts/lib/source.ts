/** Facts about the source tree that a build records: version, commit and a fixed time for archives. */
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };

export const ROOT = join(import.meta.dir, "..", "..");
export const VERSION: string = packageJson.version;

function git(args: string[]): string | null {
  const result = Bun.spawnSync(["git", ...args], { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
  return result.exitCode === 0 ? result.stdout.toString().trim() : null;
}

/**
 * Returns the commit that tinyd --version shows: $TINYD_COMMIT when set
 * (for builds from a source archive without .git), else the short hash of
 * HEAD with "-dirty" when tracked files differ from it, else "".
 */
export function sourceCommit(): string {
  const fromEnv = process.env.TINYD_COMMIT;
  if (fromEnv !== undefined) return fromEnv;
  const head = git(["rev-parse", "--short=12", "HEAD"]);
  if (head === null) return "";
  const dirty = Bun.spawnSync(["git", "diff", "--quiet", "HEAD", "--"], { cwd: ROOT, stderr: "ignore" }).exitCode !== 0;
  return dirty ? `${head}-dirty` : head;
}

/**
 * Returns the modification time for archive entries, in seconds:
 * $SOURCE_DATE_EPOCH when set (https://reproducible-builds.org/specs/source-date-epoch/),
 * else the time of the HEAD commit, else 0.
 */
export function sourceDateEpoch(): number {
  const fromEnv = process.env.SOURCE_DATE_EPOCH;
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv);
  const time = git(["log", "-1", "--format=%ct"]);
  return time !== null && /^\d+$/.test(time) ? Number(time) : 0;
}
