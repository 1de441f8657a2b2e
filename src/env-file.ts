/**
 * Environment files for --env-file: one KEY=VALUE per line. Blank lines and
 * lines that start with '#' are skipped, an optional "export " before the
 * key is dropped, whitespace around the value is removed, and a value
 * wrapped in one pair of matching single or double quotes loses them. Nothing else is interpreted: no escapes, no
 * variable expansion, no line continuation.
 */
import { readFileSync } from "node:fs";
import { ExitCode, TinydError, usageError } from "./errors";

const EXPORT_PREFIX = /^export\s+/;

function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) return value.slice(1, -1);
  return value;
}

/** Reads an environment file and returns its variables in file order. Throws E_ENV_FILE or E_USAGE naming the file and line. */
export function readEnvFile(path: string): [string, string][] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reasons: Record<string, string> = { ENOENT: "no such file", EISDIR: "it is a directory", EACCES: "permission denied" };
    const reason = reasons[code ?? ""] ?? (error as Error).message;
    throw new TinydError("E_ENV_FILE", `cannot read env file ${path}: ${reason}`, ExitCode.NO_INPUT, { path, errno: code });
  }

  const entries: [string, string][] = [];
  text.split("\n").forEach((raw, index) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const trimmed = line.trimStart();
    if (trimmed === "" || trimmed.startsWith("#")) return;

    const at = trimmed.indexOf("=");
    const key = at < 0 ? "" : trimmed.slice(0, at).replace(EXPORT_PREFIX, "").trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || trimmed.includes("\0")) {
      throw usageError(`invalid line ${index + 1} in env file ${path}: expected KEY=VALUE with a name of letters, digits and '_'`, {
        path,
        line: index + 1,
      });
    }
    entries.push([key, unquote(trimmed.slice(at + 1).trim())]);
  });
  return entries;
}
