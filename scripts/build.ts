/**
 * Builds tinyd with `bun build --compile`.
 *
 *     bun scripts/build.ts                  build/tinyd and build/completions/ for this host
 *     bun scripts/build.ts --all            also one release archive per target (linux, darwin, freebsd) in build/dist/, and SHA256SUMS
 *     bun scripts/build.ts --target NAME    release archives for the named targets only (repeatable)
 *     bun scripts/build.ts --dist DIR       write the release archives to DIR instead of build/dist
 *
 * The compile flags, and why they are what they are, are in
 * scripts/lib/compile-flags.ts, which the benchmarks' floors share.
 *
 * For another platform, Bun downloads that platform's runtime from the npm
 * registry into its install cache ($BUN_INSTALL_CACHE_DIR, by default
 * ~/.bun/install/cache). A target whose runtime cannot be had is reported
 * with the reason, the other targets are built, and the exit status is 1.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { COMPILE_FLAGS } from "./lib/compile-flags";
import { completionFiles } from "./lib/completions";
import { ROOT, sourceCommit, sourceDateEpoch, VERSION } from "./lib/source";
import { type TarEntry, tarGz } from "./lib/tar";
import { findTarget, TARGETS, type Target } from "./lib/targets";

const BUILD = join(ROOT, "build");

interface BuildRequest {
  targets: Target[];
  dist: string;
}

function usage(message: string): never {
  console.error(`build: ${message}`);
  console.error("usage: bun scripts/build.ts [--all | --target NAME...] [--dist DIR]");
  console.error(`targets: ${TARGETS.map((target) => target.name).join(", ")}`);
  process.exit(64);
}

function parseArguments(argv: string[]): BuildRequest {
  const request: BuildRequest = { targets: [], dist: join(BUILD, "dist") };
  for (let index = 0; index < argv.length; index++) {
    const word = argv[index]!;
    const value = (): string => {
      const next = argv[++index];
      if (next === undefined) usage(`${word} needs a value`);
      return next;
    };
    if (word === "--all") {
      request.targets = [...TARGETS];
    } else if (word === "--target") {
      const name = value();
      const target = findTarget(name);
      if (target === undefined) usage(`unknown target '${name}'`);
      if (!request.targets.includes(target)) request.targets.push(target);
    } else if (word === "--dist") {
      request.dist = resolve(value());
    } else {
      usage(`unknown argument '${word}'`);
    }
  }
  return request;
}

/**
 * Compiles src/cli.ts into `outfile`. Bun embeds the output file's name in
 * the binary, so every build names it "tinyd" to give the same bytes.
 * Returns null on success, or the reason of the failure.
 */
function compile(outfile: string, commit: string, target: Target | null): string | null {
  const command = [
    process.execPath,
    "build",
    ...COMPILE_FLAGS,
    `--define=TINYD_COMMIT=${JSON.stringify(commit)}`,
    ...(target === null ? [] : [`--target=${target.bun}`]),
    join(ROOT, "src", "cli.ts"),
    "--outfile",
    outfile,
  ];
  const quiet = target !== null;
  const build = Bun.spawnSync(command, { cwd: ROOT, stdout: quiet ? "pipe" : "inherit", stderr: quiet ? "pipe" : "inherit" });
  if (build.exitCode === 0) return null;
  if (!quiet) return `bun build exited with status ${build.exitCode}`;
  const lines = (build.stderr ?? Buffer.alloc(0))
    .toString()
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  return lines.at(-1) ?? `bun build exited with status ${build.exitCode}`;
}

function writeCompletions(directory: string): void {
  mkdirSync(directory, { recursive: true });
  for (const [name, text] of Object.entries(completionFiles())) writeFileSync(join(directory, name), text, { mode: 0o644 });
}

function sha256(data: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(data).digest("hex");
}

/** Returns the entries of a release archive: the binary, the man page, the completions, the install script and the license. */
function archiveEntries(prefix: string, binary: Uint8Array): TarEntry[] {
  const file = (path: string) => new Uint8Array(readFileSync(join(ROOT, path)));
  const completions = Object.entries(completionFiles()).map(([name, text]) => ({
    path: `${prefix}/completions/${name}`,
    mode: 0o644,
    data: new TextEncoder().encode(text),
  }));
  return [
    { path: `${prefix}/`, mode: 0o755 },
    { path: `${prefix}/LICENSE`, mode: 0o644, data: file("LICENSE") },
    { path: `${prefix}/README.md`, mode: 0o644, data: file("README.md") },
    { path: `${prefix}/completions/`, mode: 0o755 },
    ...completions,
    { path: `${prefix}/install.sh`, mode: 0o755, data: file("scripts/install.sh") },
    { path: `${prefix}/tinyd`, mode: 0o755, data: binary },
    { path: `${prefix}/tinyd.8`, mode: 0o644, data: file("man/tinyd.8") },
  ];
}

/** Builds the release archive of one target; returns its file name, or throws with the reason. */
function buildArchive(target: Target, commit: string, dist: string, mtime: number): string {
  const scratch = mkdtempSync(join(BUILD, `.compile-${target.name}-`));
  try {
    const binaryPath = join(scratch, "tinyd");
    const failure = compile(binaryPath, commit, target);
    if (failure !== null) throw new Error(failure);
    const prefix = `tinyd-${VERSION}-${target.name}`;
    const archive = tarGz(archiveEntries(prefix, new Uint8Array(readFileSync(binaryPath))), mtime);
    const name = `${prefix}.tar.gz`;
    writeFileSync(join(dist, name), archive, { mode: 0o644 });
    return name;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function buildRelease(request: BuildRequest, commit: string): boolean {
  rmSync(request.dist, { recursive: true, force: true });
  mkdirSync(request.dist, { recursive: true });
  const mtime = sourceDateEpoch();
  const sums: string[] = [];
  const failed: string[] = [];

  for (const target of request.targets) {
    try {
      const name = buildArchive(target, commit, request.dist, mtime);
      const sum = sha256(new Uint8Array(readFileSync(join(request.dist, name))));
      sums.push(`${sum}  ${name}`);
      console.log(`built ${join(request.dist, name)}`);
    } catch (error) {
      failed.push(target.name);
      console.error(`build: cannot build ${target.name} (${target.bun}): ${(error as Error).message}`);
    }
  }

  sums.sort((a, b) => (a.slice(66) < b.slice(66) ? -1 : 1));
  writeFileSync(join(request.dist, "SHA256SUMS"), sums.map((line) => `${line}\n`).join(""), { mode: 0o644 });
  console.log(`wrote ${join(request.dist, "SHA256SUMS")} (${sums.length} of ${request.targets.length} targets)`);
  if (failed.length > 0) console.error(`build: not built: ${failed.join(", ")}`);
  return failed.length === 0;
}

const request = parseArguments(process.argv.slice(2));
const commit = sourceCommit();
mkdirSync(BUILD, { recursive: true });

writeCompletions(join(BUILD, "completions"));
const outfile = join(BUILD, "tinyd");
const failure = compile(outfile, commit, null);
if (failure !== null) {
  console.error(`build failed: ${failure}`);
  process.exit(1);
}
chmodSync(outfile, 0o755);
console.log(`built ${outfile} (tinyd ${VERSION}${commit ? ` (${commit})` : ""})`);

if (request.targets.length > 0 && !buildRelease(request, commit)) process.exit(1);
