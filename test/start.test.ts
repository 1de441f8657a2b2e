/**
 * End-to-end tests of `tinyd start`: real daemons from build/tinyd, checked
 * in /proc. Each test runs on both launch paths.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  alive,
  IS_ROOT,
  isLocked,
  LAUNCH_METHODS,
  procEnviron,
  procFds,
  procStat,
  procStatus,
  readPid,
  TAG,
  taggedProcesses,
  tempDir,
  TINYD,
  tinyd,
  waitFor,
} from "./helpers";


/** A launcher started with SIGHUP and SIGPIPE ignored and SIGTERM blocked, as a careless parent might leave it. */
const HOSTILE_PARENT = [
  "python3",
  "-c",
  [
    "import os, signal, sys",
    "signal.signal(signal.SIGHUP, signal.SIG_IGN)",
    "signal.signal(signal.SIGPIPE, signal.SIG_IGN)",
    "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])",
    "os.execv(sys.argv[1], sys.argv[1:])",
  ].join("\n"),
];
const HAS_PYTHON = Bun.which("python3") !== null;

const SIGHUP_BIT = 1n << 0n;
const SIGTERM_BIT = 1n << 14n;

for (const launch of LAUNCH_METHODS) {
  describe(`start (${launch})`, () => {
    test("daemon is detached into its own session", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const result = await tinyd(["-v", "-p", pidfile, "--", "sleep", "300"], { launch });

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);
      expect(result.stdout.trim()).toBe(String(pid));

      const stat = procStat(pid)!;
      const launcherSession = procStat(process.pid)!.session;
      expect(stat.ppid).not.toBe(result.pid);
      expect(stat.session).not.toBe(launcherSession);
      expect(stat.session).not.toBe(pid);
      expect(stat.pgrp).not.toBe(pid);
      expect(stat.ttyNr).toBe(0);
      expect(stat.comm).toBe("sleep");
    });

    test("daemon has clean fds, signals, umask and cwd", async () => {
      if (!HAS_PYTHON) {
        console.log("skipped: python3 is needed to start tinyd with ignored and blocked signals");
        return;
      }
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const result = await tinyd(["-p", pidfile, "--", "sleep", "300"], { launch, prefix: HOSTILE_PARENT });
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);

      const fds = procFds(pid);
      expect([...fds.keys()].sort()).toEqual([0, 1, 2, 3]);
      expect(fds.get(0)).toBe("/dev/null");
      expect(fds.get(1)).toBe("/dev/null");
      expect(fds.get(2)).toBe("/dev/null");
      expect(fds.get(3)).toBe(pidfile);

      const status = procStatus(pid);
      expect(status.get("SigBlk")).toMatch(/^0+$/);
      expect(status.get("SigIgn")).toMatch(/^0+$/);
      expect(status.get("Umask")).toBe("0022");
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe("/");
    });

    test("hostile parent state reaches a plain child", async () => {
      if (!HAS_PYTHON) {
        console.log("skipped: python3 is needed to start a process with ignored and blocked signals");
        return;
      }
      // Guards the test above: without tinyd, the same parent leaves the signals ignored and blocked.
      // grep leaves its signal state alone; a shell would reset the mask.
      const grep = Bun.which("grep")!;
      const proc = Bun.spawn([...HOSTILE_PARENT, grep, "-E", "^Sig(Blk|Ign)", "/proc/self/status"], { stdout: "pipe" });
      const text = await new Response(proc.stdout).text();
      await proc.exited;
      const blocked = BigInt(`0x${/SigBlk:\s*(\w+)/.exec(text)![1]}`);
      const ignored = BigInt(`0x${/SigIgn:\s*(\w+)/.exec(text)![1]}`);
      expect(blocked & SIGTERM_BIT).toBe(SIGTERM_BIT);
      expect(ignored & SIGHUP_BIT).toBe(SIGHUP_BIT);
    });

    test("pidfile holds the pid and is locked", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const result = await tinyd(["-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.exitCode).toBe(0);

      const pid = readPid(pidfile);
      expect(readFileSync(pidfile, "utf8")).toBe(`${pid}\n`);
      expect(alive(pid)).toBe(true);
      expect(isLocked(pidfile)).toBe(true);
      expect(lstatSync(pidfile).mode & 0o777).toBe(0o644);
    });

    test("daemon's pidfile descriptor is read-only", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      // The daemon tries to overwrite its pidfile through fd 3 and then runs on.
      const result = await tinyd(["-p", pidfile, "--", "sh", "-c", "echo 1 >&3; exec sleep 300"], { launch });
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);
      await waitFor(() => procStat(pid)?.comm === "sleep", "the exec of sleep");

      expect(readFileSync(pidfile, "utf8")).toBe(`${pid}\n`);
      const flags = Number.parseInt(/^flags:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/3`, "utf8"))![1]!, 8);
      // O_ACCMODE is 3 and O_RDONLY is 0.
      expect(flags & 3).toBe(0);
    });

    test("second start is refused, first untouched", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      expect((await tinyd(["-p", pidfile, "--", "sleep", "300"], { launch })).exitCode).toBe(0);
      const first = readPid(pidfile);

      const second = await tinyd(["-p", pidfile, "--", "sleep", "301"], { launch });
      expect(second.exitCode).toBe(1);
      expect(second.stderr).toBe(`tinyd: already running as pid ${first} (${pidfile})\n`);
      expect(readPid(pidfile)).toBe(first);
      expect(alive(first)).toBe(true);
      expect(taggedProcesses().filter((pid) => procStat(pid)?.comm === "sleep")).toEqual([first]);
    });

    test("twenty concurrent starts leave one daemon", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const results = await Promise.all(Array.from({ length: 20 }, () => tinyd(["-p", pidfile, "--", "sleep", "300"], { launch })));

      const started = results.filter((result) => result.exitCode === 0);
      const refused = results.filter((result) => result.exitCode === 1);
      expect(started.length).toBe(1);
      expect(refused.length).toBe(19);
      for (const result of refused) expect(result.stderr).toMatch(/^tinyd: already running as (pid \d+|another process) \(/);

      const pid = readPid(pidfile);
      await Bun.sleep(100);
      const daemons = taggedProcesses().filter((p) => procStat(p)?.comm === "sleep");
      expect(daemons).toEqual([pid]);
    });

    test("killed daemon leaves a stale pidfile that start takes over", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      expect((await tinyd(["-p", pidfile, "--", "sleep", "300"], { launch })).exitCode).toBe(0);
      const first = readPid(pidfile);
      process.kill(first, "SIGKILL");
      await waitFor(() => !alive(first), `pid ${first} to die`);

      const status = await tinyd(["status", "-p", pidfile]);
      expect(status.exitCode).toBe(1);

      const again = await tinyd(["-p", pidfile, "--", "sleep", "300"], { launch });
      expect(again.stderr).toBe("");
      expect(again.exitCode).toBe(0);
      const second = readPid(pidfile);
      expect(second).not.toBe(first);
      expect(alive(second)).toBe(true);
    });

    test("missing command exits 127 and leaves nothing", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const before = new Set(taggedProcesses());

      const byName = await tinyd(["-p", pidfile, "--", "tinyd-no-such-command"], { launch });
      expect(byName.exitCode).toBe(127);
      expect(byName.stderr).toStartWith("tinyd: cannot run 'tinyd-no-such-command': command not found in PATH");
      expect(existsSync(pidfile)).toBe(false);

      const byPath = await tinyd(["-p", pidfile, "--", join(dir, "nope")], { launch });
      expect(byPath.exitCode).toBe(127);
      expect(byPath.stderr).toBe(`tinyd: cannot run '${join(dir, "nope")}': No such file or directory\n`);
      expect(existsSync(pidfile)).toBe(false);
      expect(taggedProcesses().filter((pid) => !before.has(pid))).toEqual([]);
    });

    test("non-executable command exits 126", async () => {
      const dir = tempDir();
      const script = join(dir, "script.sh");
      writeFileSync(script, "#!/bin/sh\nsleep 300\n", { mode: 0o644 });
      const pidfile = join(dir, "d.pid");

      const result = await tinyd(["-p", pidfile, "--", script], { launch });
      expect(result.exitCode).toBe(126);
      expect(result.stderr).toContain(`cannot run '${script}': Permission denied`);
      expect(existsSync(pidfile)).toBe(false);
    });

    test("exec failure after fork leaves no pid", async () => {
      // A file with the execute bit but no valid format passes every check
      // before the launch and fails in execve itself.
      const dir = tempDir();
      const binary = join(dir, "broken");
      writeFileSync(binary, "\x7fELF not really", { mode: 0o755 });
      const pidfile = join(dir, "d.pid");

      const result = await tinyd(["-p", pidfile, "--", binary], { launch });
      expect(result.exitCode).toBe(126);
      expect(result.stderr).toBe(`tinyd: cannot run '${binary}': Exec format error\n`);
      expect(existsSync(pidfile)).toBe(false);
      expect(taggedProcesses().filter((pid) => procStat(pid)?.comm === "broken")).toEqual([]);
    });

    test("script without #! line gets a hint", async () => {
      const dir = tempDir();
      const script = join(dir, "script.sh");
      writeFileSync(script, "echo hi\n", { mode: 0o755 });
      const result = await tinyd(["--", script], { launch });
      expect(result.exitCode).toBe(126);
      expect(result.stderr).toBe(`tinyd: cannot run '${script}': Exec format error; a script needs a #! line, such as #!/bin/sh\n`);
    });

    test("missing #! interpreter is named", async () => {
      const dir = tempDir();
      const script = join(dir, "script.sh");
      writeFileSync(script, "#!/nonexistent/interpreter\necho hi\n", { mode: 0o755 });
      const result = await tinyd(["-p", join(dir, "d.pid"), "--", script], { launch });
      expect(result.exitCode).toBe(127);
      expect(result.stderr).toBe(`tinyd: cannot run '${script}': its interpreter /nonexistent/interpreter (from the #! line) was not found\n`);
      expect(existsSync(join(dir, "d.pid"))).toBe(false);
    });

    test("symlinked pidfile is rejected", async () => {
      const dir = tempDir();
      const target = join(dir, "target");
      writeFileSync(target, "precious\n");
      const pidfile = join(dir, "link.pid");
      symlinkSync(target, pidfile);

      const result = await tinyd(["-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.exitCode).toBe(73);
      expect(result.stderr).toContain(`cannot open pidfile ${pidfile}: it is a symbolic link`);
      expect(readFileSync(target, "utf8")).toBe("precious\n");
      expect(taggedProcesses().filter((pid) => procStat(pid)?.comm === "sleep")).toEqual([]);
    });

    test("missing pidfile directory exits 73", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "missing", "d.pid");
      const result = await tinyd(["-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.exitCode).toBe(73);
      expect(result.stderr).toBe(`tinyd: cannot open pidfile ${pidfile}: directory ${join(dir, "missing")} does not exist. Create it or choose another path\n`);
      expect(existsSync(join(dir, "missing"))).toBe(false);
    });

    test("unwritable pidfile directory exits 73", async () => {
      if (!IS_ROOT) {
        console.log("skipped: needs root to run tinyd as nobody against a root-owned directory");
        return;
      }
      const dir = tempDir();
      const locked = join(dir, "root-only");
      mkdirSync(locked, { mode: 0o755 });
      chmodSync(dir, 0o755);
      const pidfile = join(locked, "d.pid");

      const result = await tinyd(["-p", pidfile, "--", "sleep", "300"], {
        launch,
        prefix: ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"],
      });
      expect(result.exitCode).toBe(73);
      expect(result.stderr).toBe(`tinyd: cannot open pidfile ${pidfile}: permission denied. Choose a directory you can write to, or run with the needed privileges\n`);
      expect(existsSync(pidfile)).toBe(false);
      expect(taggedProcesses().filter((pid) => procStat(pid)?.comm === "sleep")).toEqual([]);
    });

    test("invalid umask exits 64 before anything starts", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      for (const umask of ["999", "abc", "1777", ""]) {
        const result = await tinyd(["--umask", umask, "-p", pidfile, "--", "sleep", "300"], { launch });
        expect(result.exitCode).toBe(64);
        expect(result.stderr).toBe(`tinyd: invalid umask '${umask}': expected an octal mode from 000 to 777, such as 022 or 077\n`);
      }
      expect(existsSync(pidfile)).toBe(false);
    });

    test("custom umask, cwd and environment", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const result = await tinyd(
        ["--umask", "077", "--cwd", dir, "--clear-env", "--env", "GREETING=hello world", "--env", `TINYD_TEST_TAG=${TAG}`, "-p", pidfile, "--", "sleep", "300"],
        { launch },
      );
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);

      expect(procStatus(pid).get("Umask")).toBe("0077");
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(dir);
      const env = procEnviron(pid);
      expect([...env.keys()].sort()).toEqual(["GREETING", "PATH", "TINYD_TEST_TAG"]);
      expect(env.get("GREETING")).toBe("hello world");
      expect(env.get("PATH")).toBe(process.env.PATH!);
    });

    test("environment is inherited without launcher extras", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const result = await tinyd(["-p", pidfile, "--", "sleep", "300"], { launch, env: { TINYD_PROBE: "x" } });
      expect(result.exitCode).toBe(0);
      const env = procEnviron(readPid(pidfile));

      expect(env.get("TINYD_PROBE")).toBe("x");
      expect(env.has("TINYD_INTERMEDIATE")).toBe(false);
      expect(env.has("NODE_CHANNEL_FD")).toBe(false);
      if (launch === "fallback") expect(env.get("TINYD_LAUNCH")).toBe("fallback");
    });

    test("output file gets stdout and stderr", async () => {
      const dir = tempDir();
      const log = join(dir, "out.log");
      writeFileSync(log, "earlier line\n", { mode: 0o600 });
      const pidfile = join(dir, "d.pid");

      const result = await tinyd(["-o", log, "-p", pidfile, "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2"], { launch });
      expect(result.exitCode).toBe(0);
      await waitFor(() => readFileSync(log, "utf8").includes("to-stderr"), "the daemon's output");
      expect(readFileSync(log, "utf8")).toBe("earlier line\nto-stdout\nto-stderr\n");

      const fresh = join(dir, "fresh.log");
      expect((await tinyd(["--stdout", fresh, "--", "sh", "-c", "echo hi"], { launch })).exitCode).toBe(0);
      await waitFor(() => existsSync(fresh) && readFileSync(fresh, "utf8") === "hi\n", "the daemon's stdout");
      expect(lstatSync(fresh).mode & 0o777).toBe(0o640);
    });

    test("caller is not held by the daemon", async () => {
      // The daemon keeps none of the launcher's stdio open, so reading the
      // launcher's output to its end returns at once, as in out=$(tinyd …).
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const proc = Bun.spawn(["sh", "-c", `out=$("$0" -p "$1" -- sleep 300); echo "done:$out"`, TINYD, pidfile], {
        stdout: "pipe",
        env: { ...process.env, TINYD_TEST_TAG: TAG, TINYD_LAUNCH: launch },
      });
      const text = await Promise.race([new Response(proc.stdout).text(), Bun.sleep(20_000).then(() => "timed out")]);
      expect(text).toBe("done:\n");
      expect(alive(readPid(pidfile))).toBe(true);
    });
  });
}

describe("start (native only)", () => {
  test("no-close keeps an inherited descriptor", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const log = join(dir, "out.log");
    // Without -o the daemon would keep the test's stdout pipe open and the run would not end.
    const result = await tinyd(["--no-close", "-o", log, "-p", pidfile, "--", "sleep", "300"], {
      launch: "native",
      prefix: ["sh", "-c", 'exec 7</dev/zero; exec "$@"', "sh"],
    });
    expect(result.exitCode).toBe(0);
    const fds = procFds(readPid(pidfile));
    expect(fds.get(7)).toBe("/dev/zero");
    expect(fds.get(1)).toBe(log);
    expect(fds.get(2)).toBe(log);
  });

  test("keep-signals keeps ignored signals", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const result = await tinyd(["--keep-signals", "-p", pidfile, "--", "sleep", "300"], { launch: "native", prefix: ["sh", "-c", 'trap "" HUP; exec "$@"', "sh"] });
    expect(result.exitCode).toBe(0);
    const ignored = BigInt(`0x${procStatus(readPid(pidfile)).get("SigIgn")}`);
    expect(ignored & SIGHUP_BIT).toBe(SIGHUP_BIT);
  });

  test("foreground execs in place", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const proc = Bun.spawn([TINYD, "-F", "-p", pidfile, "--", "sleep", "300"], {
      env: { ...process.env, TINYD_TEST_TAG: TAG },
      stdio: ["ignore", "ignore", "ignore"],
    });
    try {
      await waitFor(() => existsSync(pidfile) && readFileSync(pidfile, "utf8").trim() !== "", "the pidfile");
      expect(readPid(pidfile)).toBe(proc.pid);
      await waitFor(() => procStat(proc.pid)?.comm === "sleep", "the exec");
      expect(procStat(proc.pid)!.ppid).toBe(process.pid);
      expect(isLocked(pidfile)).toBe(true);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
  });

  test("quiet and verbose together exit 64", async () => {
    const result = await tinyd(["-q", "-v", "--", "sleep", "1"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe("tinyd: -q and -v contradict each other: give one of them\n");
  });

  test("works with libc headers hidden", async () => {
    if (!IS_ROOT || Bun.which("unshare") === null) {
      console.log("skipped: needs root and unshare to hide /usr/include in a mount namespace");
      return;
    }
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const script = `mount -t tmpfs none /usr/include && test ! -e /usr/include/stdio.h && exec "$0" -p "$1" -- sleep 300`;
    // The helper appends tinyd and then the arguments, which the script reads as $0 and $1.
    const result = await tinyd([pidfile], { launch: "native", prefix: ["unshare", "-m", "sh", "-c", script] });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(alive(readPid(pidfile))).toBe(true);
  });
});
