/**
 * Tests of tinyd service: the files it prints are checked by the init
 * system's own tools where installed (systemd-analyze verify), and the shell
 * scripts are run against real daemons as far as that works without their
 * init system.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseCommandLine } from "../src/cli/argv";
import { ReadinessListener } from "../src/readiness/listener";
import { alive, readPid, ROOT, TAG, tempDir, TINYD, tinyd, waitFor } from "./helpers";

const SYSTEMD_ANALYZE = Bun.which("systemd-analyze");
const NOTIFY_FIXTURE = join(ROOT, "test", "fixtures", "notify.ts");

/** Arguments with a space, quotes, $ and % that each file must pass on unchanged. */
const AWKWARD_ARGUMENTS = ["a b", "it's", 'say "hi"', "$HOME", "100%", "back\\slash"];

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
}

/** Returns the words of a unit's ExecStart= line, whose words must need no quoting. */
function execStartWords(unit: string): string[] {
  const line = unit.split("\n").find((text) => text.startsWith("ExecStart="));
  if (line === undefined) throw new Error(`no ExecStart= line in:\n${unit}`);
  if (/["'\\$%]/.test(line)) throw new Error(`ExecStart= needs unquoting, which this helper does not do: ${line}`);
  return line.slice("ExecStart=".length).split(" ");
}

/** Runs a POSIX shell script with `sh`, its daemons tagged for cleanup; returns its status and output. */
function sh(script: string): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(["sh", "-c", script], { env: { ...process.env, TINYD_TEST_TAG: TAG }, stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("service command line", () => {
  test("positionals, options, then the command", () => {
    const parsed = parseCommandLine(["service", "systemd", "web", "-p", "w.pid", "server", "-p", "80"]);
    expect(parsed.subcommand.name).toBe("service");
    expect(parsed.positionals).toEqual(["systemd", "web"]);
    expect(parsed.options).toEqual({ pidfile: "w.pid" });
    expect(parsed.command).toEqual(["server", "-p", "80"]);
  });

  test("options may precede the positionals", () => {
    const parsed = parseCommandLine(["service", "--umask", "027", "rcd", "web", "--", "stop"]);
    expect(parsed.positionals).toEqual(["rcd", "web"]);
    expect(parsed.options).toEqual({ umask: "027" });
    expect(parsed.command).toEqual(["stop"]);
  });

  test("start options are accepted", () => {
    const parsed = parseCommandLine(["service", "systemd", "web", "--clear-env", "--env", "A=1", "--env", "B=2", "-cfF", "cmd"]);
    expect(parsed.options).toEqual({ "clear-env": true, env: ["A=1", "B=2"], c: true, f: true, foreground: true });
  });
});

describe("service systemd", () => {
  test("forking unit with pidfile", async () => {
    const result = await tinyd(["service", "systemd", "web", "-p", "/run/web.pid", "--umask", "027", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines).toContain("Type=forking");
    expect(lines).toContain("PIDFile=/run/web.pid");
    expect(lines).toContain(`ExecStart=${TINYD} --pidfile /run/web.pid --umask 027 -- /bin/sleep 300`);
    expect(lines).toContain(`ExecReload=${TINYD} reload --pidfile /run/web.pid`);
    expect(lines).toContain("WantedBy=multi-user.target");
  });

  test("supervised unit tracks the supervisor", async () => {
    const result = await tinyd(["service", "systemd", "web", "-r", "-H", "-o", "/var/log/web.log", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines).toContain("PIDFile=/run/web.sup.pid");
    expect(lines).toContain(`ExecReload=${TINYD} reload --pidfile /run/web.sup.pid`);
    expect(result.stdout).toContain("--supervisor-pidfile /run/web.sup.pid");
    expect(result.stdout).toContain("--pidfile /run/web.pid");

    const given = await tinyd(["service", "systemd", "web", "-r", "-P", "/run/custom.sup.pid", "--", "/bin/sleep", "300"]);
    expect(given.stdout).toContain("PIDFile=/run/custom.sup.pid\n");
  });

  test("foreground with supervision exits 64", async () => {
    const result = await tinyd(["service", "systemd", "web", "-F", "-r", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe("tinyd: --foreground and supervision options cannot be combined: a supervisor always detaches\n");
  });

  test("default pidfile under /run", async () => {
    const result = await tinyd(["service", "systemd", "worker", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("PIDFile=/run/worker.pid\n");
    expect(result.stdout).toContain(`ExecStart=${TINYD} --pidfile /run/worker.pid -- /bin/sleep 300\n`);
  });

  test("foreground gives Type=exec", async () => {
    const result = await tinyd(["service", "systemd", "web", "-F", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("Type=exec\n");
    expect(result.stdout).not.toContain("PIDFile=");
    expect(result.stdout).toContain(`ExecStart=${TINYD} --foreground -- /bin/sleep 300\n`);
  });

  test("quotes $, % and spaces", async () => {
    const result = await tinyd(["service", "systemd", "web", "--", "/bin/echo", ...AWKWARD_ARGUMENTS]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`-- /bin/echo "a b" "it's" "say \\"hi\\"" $$HOME 100%% "back\\\\slash"\n`);
  });

  test("paths become absolute", async () => {
    const dir = tempDir();
    const result = await tinyd(["service", "systemd", "web", "-p", "run/web.pid", "-o", "log/web.log", "--", "bin/server"], { cwd: dir });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`PIDFile=${dir}/run/web.pid\n`);
    expect(result.stdout).toContain(`--output ${dir}/log/web.log -- ${dir}/bin/server\n`);
  });

  test("command found in PATH", async () => {
    const result = await tinyd(["service", "systemd", "web", "--", "sleep", "1"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/ -- \/\S*\/sleep 1\n/);
  });

  test("unit without readiness has no timeout", async () => {
    const result = await tinyd(["service", "systemd", "web", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).not.toContain("TimeoutStartSec=");
    expect(result.stdout).not.toContain("NotifyAccess=");
  });

  test("readiness keeps Type=forking", async () => {
    const result = await tinyd(["service", "systemd", "web", "-p", "/run/web.pid", "--wait-ready=30", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines).toContain("Type=forking");
    expect(lines).toContain("PIDFile=/run/web.pid");
    // tinyd's own 30 s, and 35 s for it to stop the daemon and exit after them.
    expect(lines).toContain("TimeoutStartSec=65");
    expect(lines).toContain(`ExecStart=${TINYD} --pidfile /run/web.pid --wait-ready=30 -- /bin/sleep 300`);
    expect(lines).toContain(`ExecReload=${TINYD} reload --pidfile /run/web.pid`);
  });

  test("readiness timeouts for Type=forking", async () => {
    const cases: [string[], string][] = [
      [["--wait-ready"], "TimeoutStartSec=95"],
      [["--notify-fd", "4"], "TimeoutStartSec=95"],
      [["--wait-ready=0.5"], "TimeoutStartSec=36"],
      [["--wait-ready=0", "--notify-fd", "4"], "TimeoutStartSec=infinity"],
    ];
    for (const [options, timeout] of cases) {
      const result = await tinyd(["service", "systemd", "web", ...options, "--", "/bin/sleep", "300"]);
      expect(result.exitCode).toBe(0);
      expect(result.stdout.split("\n")).toContain(timeout);
    }
  });

  test("foreground readiness gives Type=notify", async () => {
    const result = await tinyd(["service", "systemd", "web", "-F", "-p", "/run/web.pid", "--wait-ready=20", "--umask", "027", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines).toContain("Type=notify");
    expect(lines).toContain("NotifyAccess=all");
    expect(lines).toContain("TimeoutStartSec=20");
    // tinyd -F rejects --wait-ready: systemd waits instead.
    expect(lines).toContain(`ExecStart=${TINYD} --foreground --pidfile /run/web.pid --umask 027 -- /bin/sleep 300`);
    expect(lines).toContain("ExecReload=/bin/kill -HUP $MAINPID");
    expect(result.stdout).not.toContain("PIDFile=");
  });

  test("Type=notify without a limit", async () => {
    const result = await tinyd(["service", "systemd", "web", "-F", "--wait-ready=0", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("\nTimeoutStartSec=infinity\n");
  });

  test("Type=notify rejects what cannot report", async () => {
    const cases: [string[], string][] = [
      [["--notify-fd", "4"], "--notify-fd needs tinyd to wait for the daemon"],
      [["--wait-ready", "--clear-env"], "--clear-env removes the NOTIFY_SOCKET"],
      [["--wait-ready", "--chroot", "/srv"], "outside the --chroot root"],
    ];
    for (const [options, message] of cases) {
      const result = await tinyd(["service", "systemd", "web", "-F", ...options, "--", "/bin/sleep", "300"]);
      expect(result.exitCode).toBe(64);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(message);
    }
  });

  test("ExecStart returns once ready", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "web.pid");
    const marker = join(dir, "ready");
    const server = join(dir, "server.sh");
    writeFileSync(server, `#!/bin/sh\nsleep 0.5\necho > "${marker}"\necho >&4\nexec sleep 300\n`, { mode: 0o755 });
    const generated = await tinyd(["service", "systemd", "web", "-p", pidfile, "--wait-ready=20", "--notify-fd", "4", "--", server]);
    expect(generated.exitCode).toBe(0);

    const words = execStartWords(generated.stdout);
    expect(words[0]).toBe(TINYD);
    const result = await tinyd(words.slice(1));
    const pid = readPid(pidfile);
    try {
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      // The server reports after it wrote the marker, so a start that returned early finds none.
      expect(existsSync(marker)).toBe(true);
      expect(alive(pid)).toBe(true);
    } finally {
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });

  test("Type=notify ExecStart reports to systemd", async () => {
    // A listener of tinyd's own takes the place of systemd's notification socket.
    const listener = ReadinessListener.open();
    const dir = tempDir();
    const pidfile = join(dir, "web.pid");
    let pid: number | null = null;
    try {
      const generated = await tinyd(["service", "systemd", "web", "-F", "-p", pidfile, "--wait-ready", "--", process.execPath, NOTIFY_FIXTURE, "READY=1"]);
      expect(generated.exitCode).toBe(0);
      const words = execStartWords(generated.stdout);
      expect(words[0]).toBe(TINYD);

      const proc = Bun.spawn(words, { env: { ...process.env, TINYD_TEST_TAG: TAG, ...listener.environment }, stdout: "pipe", stderr: "pipe" });
      pid = proc.pid;
      const outcome = await listener.wait({ timeoutMs: 20_000, exited: proc.exited });
      expect(outcome.outcome).toBe("ready");
      expect(await proc.exited).toBe(0);
      expect(JSON.parse(await new Response(proc.stdout).text()).delivered).toBe(true);
      // -F writes its own pid before the exec, so the READY=1 came from the unit's main process.
      expect(readPid(pidfile)).toBe(proc.pid);
    } finally {
      listener.close();
      if (pid !== null && alive(pid)) process.kill(pid, "SIGKILL");
    }
  });

  test("systemd-analyze verify accepts units", async () => {
    if (SYSTEMD_ANALYZE === null) {
      console.log("skipped: systemd-analyze is not installed");
      return;
    }
    const dir = tempDir();
    const units = {
      "forking.service": ["service", "systemd", "forking", "-o", join(dir, "out.log"), "--env", "A=b c", "--", "/bin/sh", "-c", "exec sleep 300", ...AWKWARD_ARGUMENTS],
      "exec.service": ["service", "systemd", "exec", "-F", "--description", "100% fine", "--", "/bin/sleep", "300"],
      "ready.service": ["service", "systemd", "ready", "--wait-ready=2.5", "--notify-fd", "4", "--", "/bin/sleep", "300"],
      "unlimited.service": ["service", "systemd", "unlimited", "--wait-ready=0", "--", "/bin/sleep", "300"],
      "notify.service": ["service", "systemd", "notify", "-F", "--wait-ready=30", "--", "/bin/sleep", "300"],
    };
    for (const [file, args] of Object.entries(units)) {
      const result = await tinyd(args);
      expect(result.exitCode).toBe(0);
      writeFileSync(join(dir, file), result.stdout);
      const verify = Bun.spawnSync([SYSTEMD_ANALYZE, "verify", "--man=no", join(dir, file)], { cwd: dir, stdout: "pipe", stderr: "pipe" });
      const report = verify.stdout.toString() + verify.stderr.toString();
      expect(report).toBe("");
      expect(verify.exitCode).toBe(0);
    }
  });

  test("systemd-analyze rejects a missing binary", async () => {
    if (SYSTEMD_ANALYZE === null) {
      console.log("skipped: systemd-analyze is not installed");
      return;
    }
    // Shows that the check above can fail.
    const dir = tempDir();
    const result = await tinyd(["service", "systemd", "web", "--tinyd", join(dir, "no-such-tinyd"), "--", "/bin/sleep", "300"]);
    writeFileSync(join(dir, "web.service"), result.stdout);
    const verify = Bun.spawnSync([SYSTEMD_ANALYZE, "verify", "--man=no", join(dir, "web.service")], { stdout: "pipe", stderr: "pipe" });
    expect(verify.exitCode).not.toBe(0);
    expect(verify.stderr.toString()).toContain("no-such-tinyd");
  });
});

describe("service openrc", () => {
  test("script runs start, status, stop", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "web.pid");
    const output = join(dir, "web.log");
    const generated = await tinyd(["service", "openrc", "web", "-o", output, "--env", "GREETING=hello there", "--", "/bin/sh", "-c", 'echo "$GREETING" "$@"; exec sleep 300', "sh", ...AWKWARD_ARGUMENTS]);
    expect(generated.exitCode).toBe(0);
    expect(generated.stdout).toStartWith("#!/sbin/openrc-run\n");
    const script = join(dir, "web");
    writeFileSync(script, generated.stdout);
    expect(sh(`sh -n '${script}'`).exitCode).toBe(0);

    // OpenRC's ebegin and eend print progress; everything else in the script runs as it would under openrc-run.
    const prelude = `ebegin() { echo "ebegin $*"; }; eend() { echo "eend $1"; return "$1"; }; RC_SVCNAME=web; pidfile='${pidfile}'; . '${script}'`;
    const start = sh(`${prelude}; start`);
    expect(start.stdout).toBe("ebegin Starting web\neend 0\n");
    const pid = readPid(pidfile);
    try {
      expect(alive(pid)).toBe(true);
      await waitFor(() => cmdline(pid)[0] === "sleep", "the daemon to exec sleep");
      expect(cmdline(pid)).toEqual(["sleep", "300"]);
      expect(readFileSync(output, "utf8")).toBe(`hello there ${AWKWARD_ARGUMENTS.join(" ")}\n`);

      const status = sh(`${prelude}; status`);
      expect(status.exitCode).toBe(0);
      expect(status.stdout).toStartWith(`running as pid ${pid}`);

      const stop = sh(`${prelude}; stop`);
      expect(stop.stdout).toBe("ebegin Stopping web\neend 0\n");
      await waitFor(() => !alive(pid), `pid ${pid} to exit`);
    } finally {
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  });

  test("conf.d overrides the pidfile", async () => {
    const generated = await tinyd(["service", "openrc", "web", "--", "/bin/sleep", "300"]);
    expect(generated.stdout).toContain('pidfile="${pidfile:-/run/web.pid}"\n');
    expect(generated.stdout).toContain('stop_timeout="${stop_timeout:-10}"\n');
  });

  test("foreground is rejected", async () => {
    const result = await tinyd(["service", "openrc", "web", "-F", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(64);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("-F/--foreground does not fit openrc");
  });
});

describe("service rcd", () => {
  test("rc.subr variables", async () => {
    const result = await tinyd(["service", "rcd", "web", "-o", "/var/log/web.log", "--cwd", "/srv", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe("#!/bin/sh");
    expect(lines).toContain("# PROVIDE: web");
    expect(lines).toContain(". /etc/rc.subr");
    expect(lines).toContain('rcvar="web_enable"');
    expect(lines).toContain(': "${web_pidfile:=/var/run/web.pid}"');
    expect(lines).toContain('pidfile="${web_pidfile}"');
    expect(lines).toContain('procname="/bin/sleep"');
    expect(lines).toContain(`command="${TINYD}"`);
    expect(lines).toContain('command_args="-p \\"\\${pidfile}\\" --cwd /srv -o /var/log/web.log -- /bin/sleep 300"');
    expect(lines).toContain('extra_commands="reload"');
    expect(lines.at(-2)).toBe('run_rc_command "$1"');
    expect(sh(`sh -n /dev/stdin <<'EOF'\n${result.stdout}\nEOF`).exitCode).toBe(0);
  });

  test("command_args survive rc.subr's eval", async () => {
    // rc.subr runs "$command $rc_flags $command_args" through eval; this does the same with the script's variables.
    const dir = tempDir();
    const pidfile = join(dir, "web.pid");
    const output = join(dir, "web.log");
    const generated = await tinyd(["service", "rcd", "web", "-o", output, "--", "/bin/sh", "-c", 'echo "$@"; exec sleep 300', "sh", ...AWKWARD_ARGUMENTS]);
    expect(generated.exitCode).toBe(0);
    const assignments = generated.stdout
      .split("\n")
      .filter((line) => /^(procname|command|command_args)=/.test(line))
      .join("\n");
    const run = sh(`web_pidfile='${pidfile}'; pidfile="$web_pidfile"; rc_flags='--umask 077'; ${assignments}\neval "$command $rc_flags $command_args"`);
    expect(run.exitCode).toBe(0);
    const pid = readPid(pidfile);
    try {
      await waitFor(() => cmdline(pid)[0] === "sleep", "the daemon to exec sleep");
      expect(cmdline(pid)).toEqual(["sleep", "300"]);
      expect(readFileSync(`/proc/${pid}/status`, "utf8")).toContain("Umask:\t0077");
      expect(readFileSync(output, "utf8")).toBe(`${AWKWARD_ARGUMENTS.join(" ")}\n`);
    } finally {
      process.kill(pid, "SIGKILL");
    }
  });

  test("optional value stays attached", async () => {
    const result = await tinyd(["service", "rcd", "web", "--wait-ready=30", "--notify-fd", "4", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('command_args="-p \\"\\${pidfile}\\" --wait-ready=30 --notify-fd 4 -- /bin/sleep 300"\n');
  });

  test("script gets command_interpreter", async () => {
    const dir = tempDir();
    const script = join(dir, "server.sh");
    writeFileSync(script, "#!/bin/sh\nexec sleep 300\n", { mode: 0o755 });
    const result = await tinyd(["service", "rcd", "web", "--", script]);
    expect(result.stdout).toContain(`procname="${script}"\n`);
    expect(result.stdout).toContain('command_interpreter="/bin/sh"\n');
  });

  test("name must suit rc.conf", async () => {
    const result = await tinyd(["service", "rcd", "my-web", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe("tinyd: invalid service name 'my-web' for rcd: use up to 64 letters, digits and underscores, not starting with a digit\n");
  });
});

describe("service errors", () => {
  test("unknown init system", async () => {
    const result = await tinyd(["service", "upstart", "web", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe("tinyd: unknown init system 'upstart': expected one of systemd, openrc, rcd\n");
  });

  test("missing name", async () => {
    const result = await tinyd(["service", "systemd"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain("missing NAME");
  });

  test("missing command", async () => {
    const result = await tinyd(["service", "systemd", "web"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain("no command given");
  });

  test("command not in PATH", async () => {
    const result = await tinyd(["service", "systemd", "web", "--", "no-such-program-tinyd"]);
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toContain("cannot find 'no-such-program-tinyd' in PATH");
    expect(result.stdout).toBe("");
  });

  test("invalid umask", async () => {
    const result = await tinyd(["service", "systemd", "web", "--umask", "999", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain("invalid umask '999'");
  });

  test("relative --tinyd", async () => {
    const result = await tinyd(["service", "systemd", "web", "--tinyd", "bin/tinyd", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain("invalid --tinyd 'bin/tinyd'");
  });

  test("invalid readiness values", async () => {
    const cases: [string[], string][] = [
      [["--wait-ready=soon"], "invalid --wait-ready 'soon'"],
      [["--wait-ready=-1"], "invalid --wait-ready '-1'"],
      [["--notify-fd", "2"], "invalid --notify-fd '2'"],
      [["--notify-fd", "4x"], "invalid --notify-fd '4x'"],
      [["--notify-fd", "3"], "--notify-fd 3 collides with the lock of the pidfile /run/web.pid"],
      [["--wait-ready", "--env", "NOTIFY_SOCKET=/run/x"], "--env NOTIFY_SOCKET conflicts with readiness"],
    ];
    for (const [options, message] of cases) {
      const result = await tinyd(["service", "systemd", "web", ...options, "--", "/bin/sleep", "300"]);
      expect(result.exitCode).toBe(64);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(message);
    }
  });

  test("multi-line description", async () => {
    const result = await tinyd(["service", "systemd", "web", "--description", "a\nb", "--", "/bin/sleep", "300"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toContain("invalid --description");
  });
});
