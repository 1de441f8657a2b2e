/** The platforms that release builds cover, with Bun's name for each. */

export interface Target {
  /** Name in the archive file: tinyd-VERSION-NAME.tar.gz. */
  name: string;
  /** Value of bun build --target. */
  bun: string;
  os: "linux" | "darwin";
  arch: "x64" | "arm64";
  libc: "glibc" | "musl" | null;
}

export const TARGETS: readonly Target[] = [
  { name: "linux-x64", bun: "bun-linux-x64", os: "linux", arch: "x64", libc: "glibc" },
  { name: "linux-x64-musl", bun: "bun-linux-x64-musl", os: "linux", arch: "x64", libc: "musl" },
  { name: "linux-arm64", bun: "bun-linux-arm64", os: "linux", arch: "arm64", libc: "glibc" },
  { name: "linux-arm64-musl", bun: "bun-linux-arm64-musl", os: "linux", arch: "arm64", libc: "musl" },
  { name: "darwin-x64", bun: "bun-darwin-x64", os: "darwin", arch: "x64", libc: null },
  { name: "darwin-arm64", bun: "bun-darwin-arm64", os: "darwin", arch: "arm64", libc: null },
];

/** Returns the target that runs on this host, whose runtime Bun has without a download, or null. */
export function hostTarget(): Target | null {
  const arch = process.arch === "arm64" ? "arm64" : process.arch === "x64" ? "x64" : null;
  if (arch === null || (process.platform !== "linux" && process.platform !== "darwin")) return null;
  // NOTE: a musl host is taken for glibc here, so its host build downloads the glibc runtime.
  return TARGETS.find((target) => target.os === process.platform && target.arch === arch && target.libc !== "musl") ?? null;
}

export function findTarget(name: string): Target | undefined {
  return TARGETS.find((target) => target.name === name);
}
