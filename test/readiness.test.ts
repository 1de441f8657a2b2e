/**
 * End-to-end tests of `tinyd --wait-ready` and `--notify-fd`: real daemons
 * that report readiness over NOTIFY_SOCKET or a pipe, or fail to, on both
 * launch paths.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { alive, IS_ROOT, LAUNCH_METHODS, procEnviron, procFds, procStat, procStatus, readPid, ROOT, taggedProcesses, tempDir, tinyd, waitFor } from "./helpers";

const HAS_PYTHON = Bun.which("python3") !== null;
const HAS_SYSTEMD_NOTIFY = Bun.which("systemd-notify") !== null;
const NOTIFY_FIXTURE = join(ROOT, "test", "fixtures", "notify.ts");

/** Returns a shell command that sends its argument over NOTIFY_SOCKET with Python's socket module, a client independent of tinyd's. */
function pythonNotify(message: string): string {
  const script = `import os, socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(${JSON.stringify(message)}.encode(), os.environ["NOTIFY_SOCKET"])`;
  return `python3 -c '${script}'`;
}

/** Pids of tagged processes that `before` did not have. */
function newProcesses(before: Set<number>): number[] {
  return taggedProcesses().filter((pid) => !before.has(pid));
}

for (const launch of LAUNCH_METHODS) {
  describe(`wait-ready (${launch})`, () => {
    test("systemd-notify readiness returns once ready", async () => {
      if (!HAS_SYSTEMD_NOTIFY) {
        console.log("skipped: systemd-notify is not installed");
        return;
      }
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const marker = join(dir, "ready-sent");
      const script = `sleep 0.3; systemd-notify --ready --status="serving"; touch "${marker}"; exec sleep 300`;
      const result = await tinyd(["--wait-ready=20", "-v", "-p", pidfile, "--", "sh", "-c", script], { launch });

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);
      expect(result.stdout.trim()).toBe(String(pid));
      expect(alive(pid)).toBe(true);
      // The launcher returned once READY=1 arrived, so the socket was gone when systemd-notify finished.
      const socket = procEnviron(pid).get("NOTIFY_SOCKET")!;
      expect(socket).toMatch(/\/tinyd-ready-[^/]+\/notify$/);
      expect(existsSync(socket)).toBe(false);
      expect(existsSync(dirname(socket))).toBe(false);
    });

    test("python client readiness returns once ready", async () => {
      if (!HAS_PYTHON) {
        console.log("skipped: python3 is needed for an independent sd_notify client");
        return;
      }
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const script = `sleep 0.3; ${pythonNotify("STATUS=warming up\nREADY=1")}; exec sleep 300`;
      const result = await tinyd(["--wait-ready", "-p", pidfile, "--", "sh", "-c", script], { launch });

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      expect(alive(readPid(pidfile))).toBe(true);
    });

    test("library notify reports ready and unsets", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const log = join(dir, "out.log");
      const script = `"$0" "$1" READY=1; exec sleep 300`;
      const result = await tinyd(["--wait-ready=20", "-o", log, "-p", pidfile, "--", "sh", "-c", script, process.execPath, NOTIFY_FIXTURE], { launch });

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      await waitFor(() => readFileSync(log, "utf8").includes("delivered"), "the notify fixture's output");
      const report = JSON.parse(readFileSync(log, "utf8"));
      expect(report.delivered).toBe(true);
      expect(report.NOTIFY_SOCKET).toBe(null);
      expect(report.TINYD_NOTIFY_FD).toBe(null);
    });

    test("socket is private while waiting", async () => {
      const dir = tempDir();
      const modes = join(dir, "modes");
      const script = `stat -c %a "$NOTIFY_SOCKET" "$(dirname "$NOTIFY_SOCKET")" > "${modes}"; "$0" "$1" READY=1; exec sleep 300`;
      const result = await tinyd(["--wait-ready=20", "--", "sh", "-c", script, process.execPath, NOTIFY_FIXTURE], { launch });

      expect(result.exitCode).toBe(0);
      expect(readFileSync(modes, "utf8")).toBe("600\n700\n");
    });

    test("notify-fd newline returns once ready", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const seen = join(dir, "seen");
      const script = `echo "$TINYD_NOTIFY_FD" > "${seen}"; sleep 0.2; echo >&5; exec 5>&-; exec sleep 300`;
      const result = await tinyd(["--notify-fd", "5", "-p", pidfile, "--", "sh", "-c", script], { launch });

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);
      expect(readFileSync(seen, "utf8")).toBe("5\n");
      expect(procFds(pid).has(5)).toBe(false);
      expect([...procFds(pid).keys()].sort()).toEqual([0, 1, 2, 3]);
    });

    test("notify-fd is inherited at its number", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      // The daemon keeps the descriptor open: the launcher's read end is what closes.
      const script = `echo >&9; exec sleep 300`;
      const result = await tinyd(["--notify-fd", "9", "-p", pidfile, "--", "sh", "-c", script], { launch });

      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);
      const fds = procFds(pid);
      expect(fds.get(9)).toMatch(/^pipe:/);
      expect([...fds.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 9]);
      expect(procEnviron(pid).get("TINYD_NOTIFY_FD")).toBe("9");
    });

    test("notify-fd 4 moves the report pipe", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const result = await tinyd(["--notify-fd", "4", "-p", pidfile, "--", "sh", "-c", "echo >&4; exec sleep 300"], { launch });

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      expect(procFds(readPid(pidfile)).get(4)).toMatch(/^pipe:/);
    });

    test("exit before ready exits 69 with stderr", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const before = new Set(taggedProcesses());
      const script = "echo 'loading config' >&2; echo 'fatal: port 80 is in use' >&2; exit 3";
      const result = await tinyd(["--wait-ready=20", "-p", pidfile, "--", "sh", "-c", script], { launch });

      expect(result.exitCode).toBe(69);
      expect(result.stderr).toMatch(/^tinyd: pid \d+ \(sh\) exited before it was ready\. Its last lines on stderr:\n/);
      expect(result.stderr).toEndWith("\n  loading config\n  fatal: port 80 is in use\n");
      expect(existsSync(pidfile)).toBe(false);
      expect(newProcesses(before)).toEqual([]);
    });

    test("timeout exits 75 and stops the group", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      // A pidfile that existed before stays, but empty.
      writeFileSync(pidfile, "");
      const before = new Set(taggedProcesses());
      const script = "echo 'still loading' >&2; sleep 300 & exec sleep 301";
      const result = await tinyd(["--wait-ready=1", "-p", pidfile, "--", "sh", "-c", script], { launch });

      expect(result.exitCode).toBe(75);
      expect(result.stderr).toMatch(/^tinyd: timed out after 1 s waiting for pid \d+ \(sh\) to be ready, and stopped it\. Its last lines on stderr:\n  still loading\n$/);
      expect(readFileSync(pidfile, "utf8")).toBe("");
      expect(newProcesses(before)).toEqual([]);
    });

    test("failure quotes only new output lines", async () => {
      const dir = tempDir();
      const log = join(dir, "out.log");
      writeFileSync(log, "line from an earlier run\n");
      const result = await tinyd(["--wait-ready=20", "-o", log, "--", "sh", "-c", "echo 'this run failed' >&2; exit 1"], { launch });

      expect(result.exitCode).toBe(69);
      expect(result.stderr).toContain(`Its last lines on ${log}:\n  this run failed\n`);
      expect(result.stderr).not.toContain("earlier run");
      expect(readFileSync(log, "utf8")).toBe("line from an earlier run\nthis run failed\n");
    });

    test("silent exit says nothing was written", async () => {
      const result = await tinyd(["--wait-ready=20", "--", "sh", "-c", "exit 1"], { launch });
      expect(result.exitCode).toBe(69);
      expect(result.stderr).toMatch(/^tinyd: pid \d+ \(sh\) exited before it was ready\. It wrote nothing to stderr\n$/);
    });

    test("status and errno appear in the failure", async () => {
      if (!HAS_PYTHON) {
        console.log("skipped: python3 is needed for an independent sd_notify client");
        return;
      }
      const script = `${pythonNotify("STATUS=opening database\nERRNO=13")}; exit 1`;
      const result = await tinyd(["--wait-ready=20", "--", "sh", "-c", script], { launch });

      expect(result.exitCode).toBe(69);
      expect(result.stderr).toContain("exited before it was ready. It reported ERRNO=13 (Permission denied). Its last status was 'opening database'.");
    });

    test("MAINPID replaces the pid in the pidfile", async () => {
      if (!HAS_PYTHON) {
        console.log("skipped: python3 is needed for an independent sd_notify client");
        return;
      }
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      // The shell starts the real server in the background and names it as the main process.
      const notify = `import os, socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(("READY=1\\nMAINPID=" + sys.argv[1]).encode(), os.environ["NOTIFY_SOCKET"])`;
      const result = await tinyd(["--wait-ready=20", "-v", "-p", pidfile, "--", "sh", "-c", `sleep 300 & python3 -c '${notify}' $!; wait`], { launch });

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const main = readPid(pidfile);
      expect(result.stdout.trim()).toBe(String(main));
      expect(procStat(main)!.comm).toBe("sleep");
    });

    test("EXTEND_TIMEOUT_USEC extends the deadline", async () => {
      if (!HAS_PYTHON) {
        console.log("skipped: python3 is needed for an independent sd_notify client");
        return;
      }
      const script = `${pythonNotify("EXTEND_TIMEOUT_USEC=5000000")}; sleep 1.5; ${pythonNotify("READY=1")}; exec sleep 300`;
      const result = await tinyd(["--wait-ready=0.5", "--", "sh", "-c", script], { launch });

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
    });
  });
}

describe("wait-ready (native only)", () => {
  test("notify-fd with no-close", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const log = join(dir, "out.log");
    const result = await tinyd(["--no-close", "--notify-fd", "6", "-o", log, "-p", pidfile, "--", "sh", "-c", "echo >&6; exec sleep 300"], { launch: "native" });

    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(procFds(readPid(pidfile)).get(6)).toMatch(/^pipe:/);
  });
});

describe("wait-ready (no-close collision)", () => {
  test("notify-fd on a kept descriptor is rejected", async () => {
    const dir = tempDir();
    const log = join(dir, "out.log");
    const result = await tinyd(["--no-close", "--notify-fd", "7", "-o", log, "--", "sleep", "300"], {
      launch: "native",
      prefix: ["sh", "-c", 'exec 7</dev/zero; exec "$@"', "sh"],
    });
    expect(result.stderr).toBe("tinyd: --notify-fd 7 collides with inherited descriptor 7, which --no-close keeps: choose a free number\n");
    expect(result.exitCode).toBe(64);
    expect(existsSync(log)).toBe(false);
  });
});

describe("wait-ready usage", () => {
  const cases: [string[], string][] = [
    [["--wait-ready=soon"], "tinyd: invalid --wait-ready 'soon': expected a number of seconds, 0 or more\n"],
    [["--notify-fd", "2"], "tinyd: invalid --notify-fd '2': expected a descriptor number from 3 to 65535\n"],
    [["--notify-fd", "x"], "tinyd: invalid --notify-fd 'x': expected a descriptor number, such as 3\n"],
    [["--notify-fd", "3", "-p", "/tmp/never-created.pid"], "tinyd: --notify-fd 3 collides with the pidfile lock, which the daemon holds on descriptor 3: choose 4 or higher\n"],
    [["--wait-ready", "-F"], "tinyd: --wait-ready and --notify-fd need the launcher to stay until the daemon is ready, so they cannot be combined with --foreground\n"],
    [["--wait-ready", "--env", "NOTIFY_SOCKET=/x"], "tinyd: --env NOTIFY_SOCKET conflicts with readiness, which sets NOTIFY_SOCKET itself: remove it from --env\n"],
  ];
  for (const [args, message] of cases) {
    test(`rejects ${args.join(" ")}`, async () => {
      const result = await tinyd([...args, "--", "sleep", "300"]);
      expect(result.stderr).toBe(message);
      expect(result.exitCode).toBe(64);
      expect(existsSync("/tmp/never-created.pid")).toBe(false);
    });
  }

  test("help shows the optional value", async () => {
    const result = await tinyd(["--help"]);
    expect(result.stdout).toContain("  --wait-ready[=SECONDS]");
    expect(result.stdout).toContain("  --notify-fd N");
  });

  test("private directory is removed", async () => {
    const tmp = tempDir();
    const leftovers = () => [...new Bun.Glob("tinyd-ready-*").scanSync({ cwd: tmp, onlyFiles: false })];

    const ready = await tinyd(["--notify-fd", "5", "--", "sh", "-c", "echo >&5; exec sleep 300"], { env: { TMPDIR: tmp } });
    expect(ready.exitCode).toBe(0);
    expect(leftovers()).toEqual([]);

    const failed = await tinyd(["--wait-ready=20", "--", "sh", "-c", "echo oops >&2; exit 1"], { env: { TMPDIR: tmp } });
    expect(failed.exitCode).toBe(69);
    expect(leftovers()).toEqual([]);
  });

  test("socket reaches a daemon run as nobody", async () => {
    const python = "/usr/bin/python3";
    if (!IS_ROOT || !existsSync(python)) {
      console.log("skipped: needs root and /usr/bin/python3 to send READY=1 as nobody");
      return;
    }
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const pidfile = join(dir, "d.pid");
    const send = 'import os, socket, time; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"]); time.sleep(300)';
    const result = await tinyd(["-u", "nobody", "--wait-ready=10", "-p", pidfile, "--", python, "-c", send]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(procStatus(readPid(pidfile)).get("Uid")).toBe("65534\t65534\t65534\t65534");
  });
});
