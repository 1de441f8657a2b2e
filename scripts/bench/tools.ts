/**
 * Finds, copies and builds the programs that both benchmarks run: the tools
 * they compare, the tinyd under test, and the compiled Bun floor.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMPILE_FLAGS } from "../lib/compile-flags.ts";

/** A tool that is not installed or could not be built, with the reason that the report prints in its row. */
export interface MissingTool {
  label: string;
  reason: string;
}

/** PATH plus the sbin directories, where start-stop-daemon and daemon live on Debian. */
const SEARCH_PATH = [process.env.PATH ?? "", "/usr/local/sbin", "/usr/sbin", "/sbin"].join(":");

export function findExecutable(name: string): string | undefined {
  return Bun.which(name, { PATH: SEARCH_PATH }) ?? undefined;
}

/** Returns the trimmed stdout of a command that exited 0, or undefined. */
export function commandOutput(argv: string[]): string | undefined {
  try {
    const result = Bun.spawnSync(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 10_000 });
    if (result.exitCode !== 0) return undefined;
    return result.stdout.toString().trim();
  } catch {
    return undefined;
  }
}

/** Returns the installed version of a Debian package, or "unknown" off Debian. */
export function debianVersion(packageName: string): string {
  return commandOutput(["dpkg-query", "--show", "--showformat=${Version}", packageName]) || "unknown";
}

export function notInstalled(label: string, packageName: string): MissingTool {
  return { label, reason: `not installed (apt-get install ${packageName})` };
}

/**
 * Returns the path of libslack daemon, or undefined when it is not
 * installed. Other systems ship unrelated programs named daemon (FreeBSD's
 * daemon(8)), so the libslack one is recognized by its --version output,
 * "daemon-0.8".
 */
export function findLibslackDaemon(): string | undefined {
  const daemon = findExecutable("daemon");
  const versionOutput = daemon === undefined ? undefined : commandOutput([daemon, "--version"]);
  return versionOutput?.startsWith("daemon-") ? daemon : undefined;
}

/**
 * Copies the tinyd binary at source into workDir, so that a rebuild of
 * build/tinyd during the benchmark changes nothing, and returns the copy's
 * path and `--version` output. Throws when source does not exist.
 */
export function copyTinyd(source: string, workDir: string): { binary: string; version: string } {
  if (!existsSync(source)) {
    throw new Error(`${source} not found: run \`npm run build\` first, or pass another binary with --tinyd PATH`);
  }
  const binary = join(workDir, "tinyd");
  copyFileSync(source, binary);
  chmodSync(binary, 0o755);
  return { binary, version: commandOutput([binary, "--version"]) ?? "unknown" };
}

/**
 * Compiles code into dir/name with the compile flags of scripts/build.ts,
 * so that the floor carries the same runtime and start-up as build/tinyd.
 * Returns the binary's path, or why `bun build` failed.
 */
export function compileFloor(dir: string, name: string, code: string): { binary: string } | { failure: string } {
  mkdirSync(dir, { recursive: true });
  const source = join(dir, `${name}.ts`);
  const binary = join(dir, name);
  writeFileSync(source, code);

  const build = Bun.spawnSync([process.execPath, "build", ...COMPILE_FLAGS, source, "--outfile", binary], {
    cwd: dir,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) {
    const message = build.stderr.toString().trim().split("\n").at(-1) ?? "";
    return { failure: `bun build --compile exited with status ${build.exitCode}: ${message}` };
  }
  return { binary };
}
