/**
 * Checks of the FreeBSD port and the Arch PKGBUILD that work without
 * FreeBSD or Arch: the scripts parse, and the port's plist and the PKGBUILD
 * name what install.sh installs. The Debian package is built and checked
 * in dist.test.ts.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { ROOT } from "./helpers";

const PACKAGING = join(ROOT, "packaging");

function run(command: string[], env: Record<string, string> = {}): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(command, { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env }, stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

test("shell scripts parse", () => {
  for (const script of ["freebsd/files/tinyd.in", "update-checksums.sh", "debian/build.sh"]) {
    const result = run(["sh", "-n", join(PACKAGING, script)]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
  }
  expect(run(["bash", "-n", join(PACKAGING, "arch", "PKGBUILD")]).exitCode).toBe(0);
});

test("port plist matches install.sh", () => {
  // The ports framework compresses man pages in the staging directory.
  const installed = run(["sh", join(ROOT, "scripts", "install.sh"), "files"], { PREFIX: "/usr/local", MANDIR: "/usr/local/share/man" })
    .stdout.split("\n")
    .filter(Boolean)
    .map((path) => path.replace("/usr/local/", "").replace(/\.8$/, ".8.gz"))
    .sort();
  const plist = readFileSync(join(PACKAGING, "freebsd", "pkg-plist"), "utf8").split("\n").filter(Boolean);
  expect(plist).toEqual(installed);
});

test("port and PKGBUILD carry the version", () => {
  expect(readFileSync(join(PACKAGING, "freebsd", "Makefile"), "utf8")).toContain(`\nDISTVERSION=\t${packageJson.version}\n`);
  expect(readFileSync(join(PACKAGING, "arch", "PKGBUILD"), "utf8")).toContain(`\npkgver=${packageJson.version}\n`);
});

test("port and PKGBUILD keep symbols", () => {
  // A stripped binary loses the code that bun build --compile appends and runs as plain Bun.
  expect(readFileSync(join(PACKAGING, "freebsd", "Makefile"), "utf8")).toContain("\nSTRIP=\n");
  expect(readFileSync(join(PACKAGING, "arch", "PKGBUILD"), "utf8")).toContain("options=('!strip' '!debug')");
});

test("rc.d script uses tinyd", () => {
  const script = readFileSync(join(PACKAGING, "freebsd", "files", "tinyd.in"), "utf8");
  expect(script).toContain('command="%%PREFIX%%/bin/tinyd"\n');
  expect(script).toContain('command_args="-p ${pidfile} -- ${profile_command}"\n');
  expect(script).toContain("# PROVIDE: tinyd\n");
  expect(script).toContain(". /etc/rc.subr\n");
});
