/**
 * Running tinyd again as a helper process: the fallback launch's
 * intermediate and the supervisor are both tinyd started anew with a role
 * marker in the environment.
 */

/** Environment variables that give a new tinyd process its role; the entry point checks them first. */
export const ROLE_ENV = {
  intermediate: "TINYD_INTERMEDIATE",
  supervisor: "TINYD_SUPERVISOR",
} as const;

/** Tells whether this process runs from a `bun build --compile` binary. */
export function isCompiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || Bun.main.startsWith("B:/~BUN/");
}

/**
 * Returns the command that runs tinyd again: the compiled binary itself, or
 * Bun with `entry`, a script of tinyd's sources, when running from source.
 *
 * NOTE: a user's program compiled with `bun build --compile` that imports
 * tinyd runs itself here, and must call tinyd's role check at its start.
 */
export function selfCommand(entry: URL): string[] {
  return isCompiled() ? [process.execPath] : [process.execPath, entry.pathname];
}
