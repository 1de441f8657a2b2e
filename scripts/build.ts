/**
 * Builds build/tinyd, a single executable, with `bun build --compile`.
 *
 * The binary must not read `.env` or `bunfig.toml` from whatever directory it
 * is started in: it would pass that environment on to daemons. Hence the two
 * --no-compile-autoload flags.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const outfile = join(root, "build", "tinyd");

function gitCommit(): string {
  const result = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: root, stderr: "ignore" });
  return result.exitCode === 0 ? result.stdout.toString().trim() : "";
}

mkdirSync(join(root, "build"), { recursive: true });

const command = [
  process.execPath,
  "build",
  "--compile",
  "--minify",
  "--bytecode",
  "--format=esm",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  `--define=TINYD_COMMIT=${JSON.stringify(gitCommit())}`,
  join(root, "src", "cli.ts"),
  "--outfile",
  outfile,
];

const build = Bun.spawnSync(command, { cwd: root, stdout: "inherit", stderr: "inherit" });
if (build.exitCode !== 0) {
  console.error(`build failed: bun build exited with status ${build.exitCode}`);
  process.exit(build.exitCode ?? 1);
}
console.log(`built ${outfile}`);
