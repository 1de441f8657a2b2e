/**
 * Messages of the command line: one line each on stderr, prefixed "tinyd: ".
 *
 * consola/core with this small reporter keeps start-up near the runtime's
 * floor. The full consola package costs about 40 ms more in a compiled binary
 * (measured with Bun 1.4.5 on Linux x64).
 */
import { writeSync } from "node:fs";
import { createConsola, type LogObject } from "consola/core";

/** consola's level numbers: errors only, and the default with informational messages. */
export const LOG_LEVEL_QUIET = 0;
export const LOG_LEVEL_NORMAL = 3;

function writeLine(logObject: LogObject): void {
  // Joined by hand: node:util's format() adds about 2 ms to every start of a
  // compiled tinyd (measured with Bun 1.4.5), and every message is one string.
  const text = logObject.args.map(String).join(" ");
  const prefix = logObject.type === "warn" ? "tinyd: warning: " : "tinyd: ";
  // A synchronous write: process.exit() right after must not drop the line.
  writeSync(2, `${prefix}${text}\n`);
}

export const log = createConsola({
  level: LOG_LEVEL_NORMAL,
  reporters: [{ log: writeLine }],
});

/** Writes a line of data (a pid, a status) to stdout. */
export function output(text: string): void {
  writeSync(1, `${text}\n`);
}
