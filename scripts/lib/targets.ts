/**
 * The platforms that release builds cover, with Bun's name for each: every
 * Unix platform that Bun 1.4.5 publishes a runtime for, except Android.
 */

export interface Target {
  /** Name in the archive file: tinyd-VERSION-NAME.tar.gz. */
  name: string;
  /** Value of bun build --target. */
  bun: string;
  os: "linux" | "darwin" | "freebsd";
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
  { name: "freebsd-x64", bun: "bun-freebsd-x64", os: "freebsd", arch: "x64", libc: null },
  { name: "freebsd-arm64", bun: "bun-freebsd-arm64", os: "freebsd", arch: "arm64", libc: null },
];

/** Returns the target that runs on this host, whose runtime Bun has without a download, or null. */
export function hostTarget(): Target | null {
  // NOTE: a musl host is taken for glibc here, so its host build downloads the glibc runtime.
  const found = TARGETS.find((target) => target.os === process.platform && target.arch === process.arch && target.libc !== "musl");
  return found ?? null;
}

export function findTarget(name: string): Target | undefined {
  return TARGETS.find((target) => target.name === name);
}
