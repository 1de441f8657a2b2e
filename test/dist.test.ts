/**
 * Tests of the release build for this host's target, which needs no
 * download: the archive's contents, the version, two builds giving the same
 * bytes, and the Debian package made from it. The other targets run in
 * `npm run test:dist` (test-dist/), since Bun downloads their runtimes.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostTarget } from "../scripts/lib/targets";
import packageJson from "../package.json" with { type: "json" };
import { ROOT, tempDir } from "./helpers";

const target = hostTarget();
const BUILD_TIMEOUT_MS = 180_000;
let first = "";
let second = "";

function run(command: string[], options: { cwd?: string; env?: Record<string, string> } = {}): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(command, { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

function gitHead(): string {
  return run(["git", "rev-parse", "--short=12", "HEAD"]).stdout.trim();
}

const archiveName = target === null ? "" : `tinyd-${packageJson.version}-${target.name}`;

describe("host release archive", () => {
  beforeAll(() => {
    if (target === null) return;
    // Directories of their own, not tempDir(): they must outlive each test.
    first = mkdtempSync(join(tmpdir(), "tinyd-dist-"));
    second = mkdtempSync(join(tmpdir(), "tinyd-dist-"));
    for (const dist of [first, second]) {
      const build = run([process.execPath, "scripts/build.ts", "--target", target.name, "--dist", dist]);
      if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr}`);
    }
  }, BUILD_TIMEOUT_MS);

  test("two builds are identical", () => {
    if (target === null) return void console.log(`skipped: no release target for ${process.platform}-${process.arch}`);
    const sums = readFileSync(join(first, "SHA256SUMS"), "utf8");
    expect(sums).toMatch(new RegExp(`^[0-9a-f]{64}  ${archiveName}\\.tar\\.gz\\n$`));
    expect(readFileSync(join(second, "SHA256SUMS"), "utf8")).toBe(sums);
  });

  test("SHA256SUMS checks out", () => {
    if (target === null) return void console.log("skipped: no release target for this host");
    const check = run(["sha256sum", "--check", "SHA256SUMS"], { cwd: first });
    expect(check.stdout).toBe(`${archiveName}.tar.gz: OK\n`);
    expect(check.exitCode).toBe(0);
  });

  test("archive contents and modes", () => {
    if (target === null) return void console.log("skipped: no release target for this host");
    const listing = run(["tar", "--list", "--verbose", "--numeric-owner", "--file", join(first, `${archiveName}.tar.gz`)]);
    expect(listing.exitCode).toBe(0);
    const entries = listing.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const fields = line.split(/\s+/);
        return `${fields[0]} ${fields[1]} ${fields.at(-1)}`;
      });
    const p = archiveName;
    expect(entries).toEqual([
      `drwxr-xr-x 0/0 ${p}/`,
      `-rw-r--r-- 0/0 ${p}/LICENSE`,
      `-rw-r--r-- 0/0 ${p}/README.md`,
      `drwxr-xr-x 0/0 ${p}/completions/`,
      `-rw-r--r-- 0/0 ${p}/completions/tinyd.bash`,
      `-rw-r--r-- 0/0 ${p}/completions/_tinyd`,
      `-rw-r--r-- 0/0 ${p}/completions/tinyd.fish`,
      `-rwxr-xr-x 0/0 ${p}/install.sh`,
      `-rwxr-xr-x 0/0 ${p}/tinyd`,
      `-rw-r--r-- 0/0 ${p}/tinyd.8`,
    ]);
  });

  test("archive times are the commit time", () => {
    if (target === null) return void console.log("skipped: no release target for this host");
    const commitTime = Number(run(["git", "log", "-1", "--format=%ct"]).stdout.trim());
    const dir = tempDir();
    expect(run(["tar", "-xzf", join(first, `${archiveName}.tar.gz`), "-C", dir]).exitCode).toBe(0);
    expect(Math.round(statSync(join(dir, archiveName, "tinyd")).mtimeMs / 1000)).toBe(commitTime);
  });

  test("binary reports version and commit", () => {
    if (target === null) return void console.log("skipped: no release target for this host");
    const dir = tempDir();
    expect(run(["tar", "-xzf", join(first, `${archiveName}.tar.gz`), "-C", dir]).exitCode).toBe(0);
    const dirty = run(["git", "diff", "--quiet", "HEAD", "--"]).exitCode !== 0;
    const version = run([join(dir, archiveName, "tinyd"), "--version"]);
    expect(version.stdout).toBe(`tinyd ${packageJson.version} (${gitHead()}${dirty ? "-dirty" : ""})\n`);
  });

  test("install.sh works from the archive", () => {
    if (target === null) return void console.log("skipped: no release target for this host");
    const dir = tempDir();
    const destdir = tempDir();
    expect(run(["tar", "-xzf", join(first, `${archiveName}.tar.gz`), "-C", dir]).exitCode).toBe(0);
    const install = run(["sh", join(dir, archiveName, "install.sh")], { env: { DESTDIR: destdir, PREFIX: "/opt/tinyd" } });
    expect(install.exitCode).toBe(0);
    expect(statSync(join(destdir, "opt/tinyd/bin/tinyd")).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(destdir, "opt/tinyd/share/man/man8/tinyd.8"), "utf8")).toBe(readFileSync(join(ROOT, "man", "tinyd.8"), "utf8"));
  });

  test("debian package from the archive", () => {
    if (target === null || target.os !== "linux") return void console.log("skipped: Debian packages are built from a Linux target");
    if (Bun.which("dpkg-deb") === null) return void console.log("skipped: dpkg-deb is not installed");
    const dir = tempDir();
    const out = tempDir();
    expect(run(["tar", "-xzf", join(first, `${archiveName}.tar.gz`), "-C", dir]).exitCode).toBe(0);
    const build = run(["sh", join(ROOT, "packaging", "debian", "build.sh"), join(dir, archiveName), out], {
      // gzip: xz takes about a minute for the 110 MB binary.
      env: { DEB_MAINTAINER: "Test Packager <test@example.org>", DEB_COMPRESSION: "gzip" },
    });
    expect(build.stderr).toBe("");
    expect(build.exitCode).toBe(0);
    const arch = target.arch === "x64" ? "amd64" : "arm64";
    const deb = join(out, `tinyd_${packageJson.version}-1_${arch}.deb`);
    expect(build.stdout).toBe(`${deb}\n`);

    const contents = run(["dpkg-deb", "--contents", deb]).stdout;
    const files = contents
      .split("\n")
      .filter((line) => line.startsWith("-"))
      .map((line) => `${line.split(/\s+/)[0]} ${line.split(/\s+/).at(-1)}`);
    expect(files).toEqual([
      "-rwxr-xr-x ./usr/bin/tinyd",
      "-rw-r--r-- ./usr/share/bash-completion/completions/tinyd",
      "-rw-r--r-- ./usr/share/doc/tinyd/changelog.Debian.gz",
      "-rw-r--r-- ./usr/share/doc/tinyd/copyright",
      "-rw-r--r-- ./usr/share/fish/vendor_completions.d/tinyd.fish",
      "-rw-r--r-- ./usr/share/lintian/overrides/tinyd",
      "-rw-r--r-- ./usr/share/man/man8/tinyd.8.gz",
      "-rw-r--r-- ./usr/share/zsh/vendor-completions/_tinyd",
    ]);
    expect(contents).toContain("root/root");
    const control = run(["dpkg-deb", "--field", deb, "Package", "Version", "Architecture", "Depends"]).stdout;
    expect(control).toBe(`Package: tinyd\nVersion: ${packageJson.version}-1\nArchitecture: ${arch}\nDepends: libc6 (>= 2.17)\n`);

    // dpkg installs into a throwaway root; libc6 is not in that root's database, hence --force-depends.
    const root = tempDir();
    run(["mkdir", "-p", join(root, "var/lib/dpkg/updates"), join(root, "var/lib/dpkg/info")]);
    run(["touch", join(root, "var/lib/dpkg/status")]);
    const install = run(["dpkg", `--root=${root}`, "--force-script-chrootless", "--force-depends", "--install", deb]);
    expect(install.exitCode).toBe(0);
    expect(run([join(root, "usr/bin/tinyd"), "--version"]).stdout).toStartWith(`tinyd ${packageJson.version}`);
    const remove = run(["dpkg", `--root=${root}`, "--force-script-chrootless", "--remove", "tinyd"]);
    expect(remove.exitCode).toBe(0);
    expect(run(["find", join(root, "usr"), "-type", "f"]).stdout).toBe("");

    const lintian = Bun.which("lintian");
    if (lintian === null) return void console.log("skipped lintian: it is not installed");
    const report = run([lintian, "--fail-on", "error,warning", deb]);
    expect(report.stdout).toBe("");
    expect(report.exitCode).toBe(0);
  }, 60_000);
});

// Removed here rather than by tempDir(), whose cleanup runs after every test.
process.on("exit", () => {
  for (const dist of [first, second]) if (dist !== "") rmSync(dist, { recursive: true, force: true });
});
