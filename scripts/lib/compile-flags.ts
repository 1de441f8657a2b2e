/**
 * The `bun build` flags of every compiled binary: build/tinyd, the release
 * archives, and the floors the benchmarks build to compare tinyd with.
 *
 * The binary must not read `.env` or `bunfig.toml` from whatever directory
 * it is started in: it would pass that environment on to daemons. Hence the
 * two --no-compile-autoload flags.
 */
export const COMPILE_FLAGS: readonly string[] = [
  "--compile",
  "--minify",
  "--bytecode",
  "--format=esm",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
];
