/**
 * Tests of the release archives of every target, made by
 * `bun scripts/build.ts --all` (npm run test:dist runs it first). Bun
 * downloads the other platforms' runtimes from the npm registry, so these
 * tests need the network and are kept out of npm test.
 *
 * What runs here: the linux-arm64 binary under qemu-aarch64 with Debian's
 * arm64 glibc (packages qemu-user and libc6-arm64-cross), and the musl
 * binaries where a musl loader can load them. The darwin and FreeBSD
 * binaries are checked by their headers only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { TARGETS, type Target } from "../scripts/lib/targets";
import { alive, readPid, ROOT, TAG, tempDir, waitFor } from "../test/helpers";

const DIST = join(ROOT, "build", "dist");
const ARM64_GLIBC_ROOT = "/usr/aarch64-linux-gnu";
const MUSL_X64_LOADER = "/lib/ld-musl-x86_64.so.1";
const BUILD_TIMEOUT_MS = 600_000;

function run(command: string[], options: { cwd?: string; env?: Record<string, string> } = {}): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(command, { cwd: options.cwd ?? ROOT, env: { ...process.env, TINYD_TEST_TAG: TAG, ...options.env }, stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function archive(target: Target): string {
  return join(DIST, `tinyd-${packageJson.version}-${target.name}.tar.gz`);
}

/** Unpacks the archive of a target and returns the path of its binary. */
function unpack(target: Target): string {
  const dir = tempDir();
  const result = run(["tar", "-xzf", archive(target), "-C", dir]);
  if (result.exitCode !== 0) throw new Error(`cannot unpack ${archive(target)}: ${result.stderr}`);
  return join(dir, `tinyd-${packageJson.version}-${target.name}`, "tinyd");
}

function target(name: string): Target {
  return TARGETS.find((candidate) => candidate.name === name)!;
}

function expectedVersion(): string {
  const head = run(["git", "rev-parse", "--short=12", "HEAD"]).stdout.trim();
  const dirty = run(["git", "diff", "--quiet", "HEAD", "--"]).exitCode !== 0;
  return `tinyd ${packageJson.version} (${head}${dirty ? "-dirty" : ""})\n`;
}

describe("release archives", () => {
  test("every target was built", () => {
    const sums = readFileSync(join(DIST, "SHA256SUMS"), "utf8");
    for (const each of TARGETS) expect(sums).toContain(`  tinyd-${packageJson.version}-${each.name}.tar.gz\n`);
    const check = run(["sha256sum", "--check", "SHA256SUMS"], { cwd: DIST });
    expect(check.exitCode).toBe(0);
  });

  test("binaries are for their platform", () => {
    // ELF e_machine: 0x3e x86-64, 0xb7 AArch64; EI_OSABI 9 is FreeBSD. Mach-O cputype: 0x01000007 x86-64, 0x0100000c arm64.
    for (const each of TARGETS) {
      const head = readFileSync(unpack(each)).subarray(0, 20);
      if (each.os === "linux" || each.os === "freebsd") {
        expect(head.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
        expect(head.readUInt16LE(18)).toBe(each.arch === "x64" ? 0x3e : 0xb7);
        expect(head[7] === 9).toBe(each.os === "freebsd");
      } else {
        expect(head.readUInt32LE(0)).toBe(0xfeedfacf);
        expect(head.readUInt32LE(4)).toBe(each.arch === "x64" ? 0x01000007 : 0x0100000c);
      }
    }
  });

  test("musl binaries use the musl loader", () => {
    for (const name of ["linux-x64-musl", "linux-arm64-musl"]) {
      const interpreter = run(["sh", "-c", `od -An -c -N 4096 '${unpack(target(name))}' | tr -d ' \\n'`]).stdout;
      expect(interpreter).toContain("ld-musl");
    }
  });
});

describe("packaging checksums", () => {
  test("update-checksums writes the sums", () => {
    // A copy, so that the committed files stay as they are.
    const dir = tempDir();
    expect(run(["cp", "-R", join(ROOT, "packaging"), join(ROOT, "package.json"), dir]).exitCode).toBe(0);
    const update = run(["sh", join(dir, "packaging", "update-checksums.sh"), DIST]);
    expect(update.exitCode).toBe(0);
    const sums = new Map(
      readFileSync(join(DIST, "SHA256SUMS"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => [line.slice(66), line.slice(0, 64)] as const),
    );
    const file = (name: string) => `tinyd-${packageJson.version}-${name}.tar.gz`;
    const distinfo = readFileSync(join(dir, "packaging", "freebsd", "distinfo"), "utf8");
    for (const name of ["freebsd-x64", "freebsd-arm64"]) {
      expect(distinfo).toContain(`SHA256 (${file(name)}) = ${sums.get(file(name))}\n`);
      expect(distinfo).toContain(`SIZE (${file(name)}) = ${readFileSync(join(DIST, file(name))).length}\n`);
    }
    const pkgbuild = readFileSync(join(dir, "packaging", "arch", "PKGBUILD"), "utf8");
    expect(pkgbuild).toContain(`sha256sums_x86_64=('${sums.get(file("linux-x64"))}')\n`);
    expect(pkgbuild).toContain(`sha256sums_aarch64=('${sums.get(file("linux-arm64"))}')\n`);
  });
});

describe("reproducible builds", () => {
  let again = "";
  beforeAll(() => {
    again = mkdtempSync(join(tmpdir(), "tinyd-dist-"));
    const build = run([process.execPath, "scripts/build.ts", "--all", "--dist", again]);
    if (build.exitCode !== 0) throw new Error(`second build failed: ${build.stderr}`);
  }, BUILD_TIMEOUT_MS);
  afterAll(() => {
    if (again !== "") rmSync(again, { recursive: true, force: true });
  });

  test("second build has the same sums", () => {
    expect(readFileSync(join(again, "SHA256SUMS"), "utf8")).toBe(readFileSync(join(DIST, "SHA256SUMS"), "utf8"));
  });
});

describe("linux-arm64 under qemu", () => {
  const qemu = Bun.which("qemu-aarch64");
  const skipReason =
    qemu === null ? "qemu-aarch64 is not installed (Debian package qemu-user)" : !existsSync(join(ARM64_GLIBC_ROOT, "lib", "ld-linux-aarch64.so.1")) ? `no arm64 glibc in ${ARM64_GLIBC_ROOT} (Debian package libc6-arm64-cross)` : null;
  const env = { QEMU_LD_PREFIX: ARM64_GLIBC_ROOT };

  test("prints its version", () => {
    if (skipReason !== null) return void console.log(`skipped: ${skipReason}`);
    const result = run([qemu!, unpack(target("linux-arm64")), "--version"], { env });
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(expectedVersion());
  });

  test("starts and stops a daemon", async () => {
    if (skipReason !== null) return void console.log(`skipped: ${skipReason}`);
    const binary = unpack(target("linux-arm64"));
    const pidfile = join(tempDir(), "d.pid");
    // NOTE: qemu-user without binfmt_misc cannot run the fallback launch, which executes the arm64 binary again; the native launch forks in place.
    const start = run([qemu!, binary, "-p", pidfile, "--", "/bin/sleep", "300"], { env });
    expect(start.stderr).toBe("");
    expect(start.exitCode).toBe(0);
    const pid = readPid(pidfile);
    expect(alive(pid)).toBe(true);
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toBe("/bin/sleep\u0000300\u0000");

    const status = run([qemu!, binary, "status", "-p", pidfile], { env });
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toStartWith(`running as pid ${pid}`);

    const stop = run([qemu!, binary, "stop", "-p", pidfile], { env });
    expect(stop.exitCode).toBe(0);
    await waitFor(() => !alive(pid), `pid ${pid} to exit`);
  });
});

describe("musl builds", () => {
  test("linux-x64-musl runs through the musl loader", () => {
    if (!existsSync(MUSL_X64_LOADER)) return void console.log(`untested: ${MUSL_X64_LOADER} is missing (Debian package musl)`);
    const result = run([MUSL_X64_LOADER, unpack(target("linux-x64-musl")), "--version"]);
    // Bun's musl builds link libstdc++.so.6 for musl, which Debian does not ship.
    const missing = /Error loading shared library ([^:\s]+)/.exec(result.stderr);
    if (result.exitCode !== 0 && missing) return void console.log(`untested: the musl loader cannot find ${missing[1]} built for musl, which Debian does not package`);
    expect(result.stdout).toBe(expectedVersion());
  });

  // NOTE: linux-arm64-musl is only checked for its headers: running it needs an arm64 musl and its libstdc++, which Debian does not package.
});

describe("unreachable runtime", () => {
  test("build names the target and goes on", () => {
    if (Bun.which("unshare") === null || process.getuid?.() !== 0) return void console.log("skipped: needs root and unshare for a namespace without network");
    if (process.arch !== "x64" || process.platform !== "linux") return void console.log("skipped: the check expects a linux-x64 host, whose runtime needs no download");
    const cache = tempDir();
    const dist = tempDir();
    // An empty cache in a network namespace of its own: the arm64 runtime cannot be downloaded, the host's needs no download.
    const build = run(["unshare", "--net", process.execPath, "scripts/build.ts", "--target", "linux-arm64", "--target", "linux-x64", "--dist", dist], {
      env: { BUN_INSTALL_CACHE_DIR: cache },
    });
    expect(build.exitCode).toBe(1);
    expect(build.stderr).toContain("build: cannot build linux-arm64 (bun-linux-arm64): Failed to download 'bun-linux-aarch64-v");
    expect(build.stderr).toContain("build: not built: linux-arm64\n");
    const sums = readFileSync(join(dist, "SHA256SUMS"), "utf8");
    expect(sums).toMatch(new RegExp(`^[0-9a-f]{64}  tinyd-${packageJson.version}-linux-x64\\.tar\\.gz\\n$`));
  });
});
