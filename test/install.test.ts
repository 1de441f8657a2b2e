/**
 * Tests of scripts/install.sh into a temporary DESTDIR: where each file
 * goes, its mode and contents, and that uninstall removes exactly those.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, tempDir, TINYD } from "./helpers";

const INSTALL = join(ROOT, "scripts", "install.sh");

function installSh(args: string[], env: Record<string, string>): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(["sh", INSTALL, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

const DEFAULT_FILES: [path: string, mode: number, source: string][] = [
  ["/usr/local/bin/tinyd", 0o755, TINYD],
  ["/usr/local/share/man/man8/tinyd.8", 0o644, join(ROOT, "man", "tinyd.8")],
  ["/usr/local/share/bash-completion/completions/tinyd", 0o644, join(ROOT, "build", "completions", "tinyd.bash")],
  ["/usr/local/share/zsh/site-functions/_tinyd", 0o644, join(ROOT, "build", "completions", "_tinyd")],
  ["/usr/local/share/fish/vendor_completions.d/tinyd.fish", 0o644, join(ROOT, "build", "completions", "tinyd.fish")],
];

test("install into DESTDIR", () => {
  const destdir = tempDir();
  const result = installSh([], { DESTDIR: destdir });
  expect(result.stderr).toBe("");
  expect(result.exitCode).toBe(0);
  for (const [path, mode, source] of DEFAULT_FILES) {
    const stat = statSync(join(destdir, path));
    expect(stat.mode & 0o7777).toBe(mode);
    expect(readFileSync(join(destdir, path)).equals(readFileSync(source))).toBe(true);
  }
  const version = Bun.spawnSync([join(destdir, "usr/local/bin/tinyd"), "--version"]);
  expect(version.stdout.toString()).toStartWith("tinyd ");
});

test("files lists the installed paths", () => {
  const destdir = tempDir();
  const result = installSh(["files"], { DESTDIR: destdir });
  expect(result.stdout).toBe(DEFAULT_FILES.map(([path]) => `${destdir}${path}\n`).join(""));
});

test("uninstall removes exactly those", () => {
  const destdir = tempDir();
  expect(installSh(["install"], { DESTDIR: destdir }).exitCode).toBe(0);
  const foreign = join(destdir, "usr/local/bin/other");
  writeFileSync(foreign, "keep me\n");

  const result = installSh(["uninstall"], { DESTDIR: destdir });
  expect(result.exitCode).toBe(0);
  for (const [path] of DEFAULT_FILES) expect(existsSync(join(destdir, path))).toBe(false);
  expect(readFileSync(foreign, "utf8")).toBe("keep me\n");
  expect(statSync(join(destdir, "usr/local/bin")).isDirectory()).toBe(true);
  expect(result.stdout.split("\n").filter(Boolean)).toHaveLength(DEFAULT_FILES.length);
});

test("PREFIX and directory variables", () => {
  const destdir = tempDir();
  const result = installSh([], { DESTDIR: destdir, PREFIX: "/usr", ZSHCOMPDIR: "/usr/share/zsh/vendor-completions" });
  expect(result.exitCode).toBe(0);
  expect(statSync(join(destdir, "usr/bin/tinyd")).mode & 0o7777).toBe(0o755);
  expect(existsSync(join(destdir, "usr/share/man/man8/tinyd.8"))).toBe(true);
  expect(existsSync(join(destdir, "usr/share/zsh/vendor-completions/_tinyd"))).toBe(true);
  expect(existsSync(join(destdir, "usr/share/fish/vendor_completions.d/tinyd.fish"))).toBe(true);
  expect(existsSync(join(destdir, "usr/local"))).toBe(false);
});

test("relative PREFIX is rejected", () => {
  const destdir = tempDir();
  const result = installSh([], { DESTDIR: destdir, PREFIX: "usr" });
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toBe("install.sh: 'usr' is not an absolute path: set PREFIX and the *DIR variables to absolute paths\n");
  expect(Bun.spawnSync(["find", destdir, "-mindepth", "1"]).stdout.toString()).toBe("");
});

test("unknown command is rejected", () => {
  const result = installSh(["remove"], { DESTDIR: tempDir() });
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toBe("install.sh: unknown command 'remove': use install, uninstall or files\n");
});
