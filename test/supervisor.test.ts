/**
 * End-to-end tests of supervised mode: a real supervisor from build/tinyd
 * restarting real children, checked through pidfiles, logs and /proc.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, linkSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, IS_ROOT, isLocked, LAUNCH_METHODS, procEnviron, procFds, procStat, procStatus, readPid, TAG, taggedProcesses, tempDir, TINYD, tinyd, waitFor } from "./helpers";

const HAS_PYTHON = Bun.which("python3") !== null;
const FIXTURES = join(import.meta.dir, "fixtures");

function logLines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").filter((line) => line !== "") : [];
}

/** Reads the pid in a pidfile once it has one. */
async function pidOnceWritten(pidfile: string, not?: number): Promise<number> {
  let pid = 0;
  await waitFor(
    () => {
      const text = existsSync(pidfile) ? readFileSync(pidfile, "utf8").trim() : "";
      pid = Number(text);
      return text !== "" && pid !== not;
    },
    `a pid in ${pidfile}`,
    15_000,
  );
  return pid;
}

/** Pids of the zombie children of a process. */
function zombieChildren(parent: number): number[] {
  const zombies: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat && stat.ppid === parent && stat.state === "Z") zombies.push(stat.pid);
  }
  return zombies;
}

/**
 * Runs tinyd under test/fixtures/subreaper.py, which adopts the detached
 * supervisor and prints how it ended.
 */
async function runUnderSubreaper(args: string[], timeoutSeconds: number): Promise<{ launcher: string; statuses: string[] }> {
  const proc = Bun.spawn(["python3", join(FIXTURES, "subreaper.py"), String(timeoutSeconds), TINYD, ...args], {
    env: { ...process.env, TINYD_TEST_TAG: TAG },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  return { launcher: stderr, statuses: stdout.split("\n").filter((line) => line !== "") };
}

for (const launch of LAUNCH_METHODS) {
  describe(`supervisor (${launch})`, () => {
    test("killed child is restarted", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "app.pid");
      const supervisorPidfile = join(dir, "sup.pid");
      const log = join(dir, "app.log");
      const result = await tinyd(["-r", "-R", "0.2", "-P", supervisorPidfile, "-p", pidfile, "-o", log, "--", "sh", "-c", 'echo "run $$"; exec sleep 300'], {
        launch,
      });
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);

      const supervisor = readPid(supervisorPidfile);
      const first = readPid(pidfile);
      expect(procStat(first)!.ppid).toBe(supervisor);
      expect(isLocked(pidfile)).toBe(true);
      expect(isLocked(supervisorPidfile)).toBe(true);

      process.kill(first, "SIGKILL");
      const second = await pidOnceWritten(pidfile, first);
      expect(second).not.toBe(first);
      expect(alive(second)).toBe(true);
      expect(procStat(second)!.ppid).toBe(supervisor);

      await waitFor(() => logLines(log).includes(`run ${second}`), "the second run in the log");
      const lines = logLines(log);
      expect(lines).toContain(`run ${first}`);
      expect(lines).toContain(`tinyd[${supervisor}]: child ${first} exited with signal SIGKILL; restarting in ${lines.find((line) => line.includes("restarting in"))!.match(/restarting in ([\d.]+) s/)![1]} s (restart 1)`);
    });

    test("SIGTERM stops child and grandchild", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "app.pid");
      const supervisorPidfile = join(dir, "sup.pid");
      const grandchildPidfile = join(dir, "grandchild.pid");
      const result = await tinyd(["-r", "-P", supervisorPidfile, "-p", pidfile, "--", "sh", "-c", `sleep 300 & echo $! > ${grandchildPidfile}; wait`], { launch });
      expect(result.exitCode).toBe(0);
      const supervisor = readPid(supervisorPidfile);
      const child = readPid(pidfile);
      const grandchild = await pidOnceWritten(grandchildPidfile);
      expect(procStat(grandchild)!.pgrp).toBe(child);

      process.kill(supervisor, "SIGTERM");
      await waitFor(() => !alive(supervisor), "the supervisor to exit");
      expect(alive(child)).toBe(false);
      expect(alive(grandchild)).toBe(false);
      expect(existsSync(pidfile)).toBe(false);
      expect(existsSync(supervisorPidfile)).toBe(false);
      expect(existsSync(`${pidfile}.state`)).toBe(false);
    });

    test("stop on child pidfile ends the service", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "app.pid");
      const log = join(dir, "app.log");
      const result = await tinyd(["-r", "-R", "0", "-p", pidfile, "-o", log, "--", "sleep", "300"], { launch });
      expect(result.exitCode).toBe(0);
      const child = readPid(pidfile);
      const supervisor = procStat(child)!.ppid;

      const stop = await tinyd(["stop", "-p", pidfile]);
      expect(stop.exitCode).toBe(0);
      expect(stop.stderr).toBe(`tinyd: stopped the service of supervisor pid ${supervisor} (${pidfile})\n`);
      expect(alive(supervisor)).toBe(false);
      expect(alive(child)).toBe(false);
      expect(existsSync(pidfile)).toBe(false);

      await Bun.sleep(300);
      expect(taggedProcesses().filter((pid) => procStat(pid)?.comm === "sleep")).toEqual([]);
      expect(logLines(log).at(-1)).toBe(`tinyd[${supervisor}]: child ${child} exited with signal SIGTERM; stopped`);
    });

    test("child ignoring TERM is killed after stop-timeout", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "app.pid");
      const log = join(dir, "app.log");
      const result = await tinyd(["--supervise", "--stop-timeout", "0.5", "-p", pidfile, "-o", log, "--", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"], { launch });
      expect(result.exitCode).toBe(0);
      const child = readPid(pidfile);

      const stop = await tinyd(["stop", "-p", pidfile]);
      expect(stop.exitCode).toBe(0);
      expect(alive(child)).toBe(false);
      const lines = logLines(log);
      const supervisor = lines[0]!.match(/tinyd\[(\d+)\]/)![1];
      expect(lines).toContain(`tinyd[${supervisor}]: child ${child} did not exit within 0.5 s of SIGTERM; sending SIGKILL to its process group`);
      expect(lines.at(-1)).toEndWith(`child ${child} exited with signal SIGKILL; stopped`);
    });

    test("status reports supervisor and restarts", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "app.pid");
      const supervisorPidfile = join(dir, "sup.pid");
      expect((await tinyd(["-r", "-R", "0", "-P", supervisorPidfile, "-p", pidfile, "--", "sleep", "300"], { launch })).exitCode).toBe(0);
      const first = readPid(pidfile);
      process.kill(first, "SIGKILL");
      const second = await pidOnceWritten(pidfile, first);

      await waitFor(() => JSON.parse(readFileSync(`${pidfile}.state`, "utf8")).childPid === second, "the state file to name the new child");
      const status = await tinyd(["status", "--json", "-p", pidfile]);
      expect(status.exitCode).toBe(0);
      const json = JSON.parse(status.stdout);
      expect(json.state).toBe("running");
      expect(json.pid).toBe(second);
      expect(json.supervisor.pid).toBe(readPid(supervisorPidfile));
      expect(json.supervisor.childPid).toBe(second);
      expect(json.supervisor.restarts).toBe(1);
      expect(json.supervisor.lastExit.signal).toBe("SIGKILL");
      expect(json.supervisor.lastExit.code).toBe(null);
      expect(json.supervisor.uptimeSeconds).toBeGreaterThanOrEqual(0);

      const text = await tinyd(["status", "-p", supervisorPidfile]);
      expect(text.exitCode).toBe(0);
      expect(text.stdout).toContain(`running as pid ${readPid(supervisorPidfile)}`);
      expect(text.stdout).toContain("1 restart, last exit by SIGKILL");
    });

    test("hundred thousand lines arrive in order", async () => {
      const dir = tempDir();
      const log = join(dir, "app.log");
      const pidfile = join(dir, "app.pid");
      const result = await tinyd(["--supervise", "-p", pidfile, "-o", log, "--", "seq", "1", "100000"], { launch });
      expect(result.exitCode).toBe(0);
      await waitFor(() => !existsSync(pidfile), "the supervisor to end with its child", 20_000);

      const numbers = logLines(log).filter((line) => !line.startsWith("tinyd["));
      expect(numbers.length).toBe(100_000);
      let inOrder = true;
      for (let i = 0; i < numbers.length; i++) if (numbers[i] !== String(i + 1)) inOrder = false;
      expect(inOrder).toBe(true);
    });

    test("partial last line is flushed", async () => {
      const dir = tempDir();
      const log = join(dir, "app.log");
      const pidfile = join(dir, "app.pid");
      expect((await tinyd(["--supervise", "-p", pidfile, "-o", log, "--", "printf", "no newline"], { launch })).exitCode).toBe(0);
      await waitFor(() => !existsSync(pidfile), "the supervisor to end");
      expect(logLines(log)).toContain("no newline");
    });
  });
}

describe("supervisor (native only)", () => {
  test("crash loop backs off and gives up", async () => {
    if (!HAS_PYTHON) {
      console.log("skipped: python3 is needed to adopt the supervisor and read its exit status");
      return;
    }
    const dir = tempDir();
    const log = join(dir, "app.log");
    const pidfile = join(dir, "app.pid");
    const supervisorPidfile = join(dir, "sup.pid");
    const { launcher, statuses } = await runUnderSubreaper(
      ["-R", "0.1", "--max-restarts", "3", "--restart-window", "60", "--timestamps", "-P", supervisorPidfile, "-p", pidfile, "-o", log, "--", "sh", "-c", "exit 7"],
      20,
    );
    expect(launcher).toBe("");
    const lines = logLines(log);
    const restarts = lines.filter((line) => line.includes("restarting in"));
    expect(restarts.length).toBe(3);

    // Each delay is the one before doubled, give or take the 10 % jitter.
    const delays = restarts.map((line) => Number(line.match(/restarting in ([\d.]+) s/)![1]));
    expect(delays[0]).toBeGreaterThanOrEqual(0.09);
    expect(delays[0]).toBeLessThanOrEqual(0.11);
    expect(delays[1]).toBeGreaterThanOrEqual(0.18);
    expect(delays[2]).toBeGreaterThanOrEqual(0.36);

    // The timestamps show that the supervisor waited each delay out.
    const starts = lines.filter((line) => line.includes("started child")).map((line) => Date.parse(line.split(" ")[0]!));
    expect(starts.length).toBe(4);
    expect(starts[3]! - starts[2]!).toBeGreaterThanOrEqual(delays[2]! * 1000 - 20);
    expect(starts[3]! - starts[2]!).toBeGreaterThan(starts[1]! - starts[0]!);

    expect(lines.at(-1)).toContain("exited with status 7; not restarting: it was restarted 3 times within 60 s, the limit of --max-restarts");
    expect(existsSync(pidfile)).toBe(false);
    expect(existsSync(supervisorPidfile)).toBe(false);

    const supervisorPid = Number(lines[0]!.match(/tinyd\[(\d+)\]/)![1]);
    expect(statuses).toContain(`${supervisorPid} exit 7`);

    // Status still reports the reason the service ended.
    const status = await tinyd(["status", "-p", pidfile]);
    expect(status.exitCode).toBe(3);
    expect(status.stdout).toBe("not running: the supervisor gave up: it was restarted 3 times within 60 s, the limit of --max-restarts (3 restarts, last exit with status 7)\n");
    const json = JSON.parse((await tinyd(["status", "--json", "-p", pidfile])).stdout);
    expect(json.state).toBe("stopped");
    expect(json.endReason).toBe("it was restarted 3 times within 60 s, the limit of --max-restarts");
    expect(json.supervisor.restarts).toBe(3);
  });

  test("no restart after listed exit code", async () => {
    if (!HAS_PYTHON) {
      console.log("skipped: python3 is needed to adopt the supervisor and read its exit status");
      return;
    }
    const dir = tempDir();
    const log = join(dir, "app.log");
    const { statuses } = await runUnderSubreaper(["-r", "-R", "0", "--no-restart-exit", "0,78", "-o", log, "--", "sh", "-c", "exit 78"], 20);
    const lines = logLines(log);
    expect(lines.filter((line) => line.includes("started child")).length).toBe(1);
    expect(lines.at(-1)).toContain("exited with status 78; not restarting: exit status 78 is listed in --no-restart-exit");
    const supervisorPid = Number(lines[0]!.match(/tinyd\[(\d+)\]/)![1]);
    expect(statuses).toContain(`${supervisorPid} exit 78`);
  });

  test("no zombies after fifty restarts", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const supervisorPidfile = join(dir, "sup.pid");
    const result = await tinyd(["-R", "0", "--min-uptime", "0", "-C", "1000", "-P", supervisorPidfile, "-o", log, "--", "true"]);
    expect(result.exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);
    await waitFor(() => logLines(log).filter((line) => line.includes("restarting in")).length >= 50, "fifty restarts", 20_000);

    process.kill(supervisor, "SIGSTOP");
    try {
      // Paused between reaps, at most the child of this instant can be unreaped.
      expect(zombieChildren(supervisor).length).toBeLessThanOrEqual(1);
    } finally {
      process.kill(supervisor, "SIGCONT");
    }
    await tinyd(["stop", "-p", supervisorPidfile]);
    expect(zombieChildren(supervisor)).toEqual([]);
  });

  test("supervisor is as clean as a daemon", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "app.pid");
    const supervisorPidfile = join(dir, "sup.pid");
    const result = await tinyd(["-r", "-P", supervisorPidfile, "-p", pidfile, "--", "sleep", "300"], {
      prefix: ["python3", "-c", "import os, signal, sys\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])\nfd = os.open('/dev/zero', os.O_RDONLY)\nos.dup2(fd, 9)\nos.execv(sys.argv[1], sys.argv[1:])"],
    });
    expect(result.exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);
    const child = readPid(pidfile);

    const stat = procStat(supervisor)!;
    expect(stat.ttyNr).toBe(0);
    expect(stat.session).not.toBe(supervisor);
    expect(stat.session).not.toBe(procStat(process.pid)!.session);
    const status = procStatus(supervisor);
    expect(status.get("SigBlk")).toMatch(/^0+$/);
    expect(BigInt(`0x${status.get("SigIgn")}`) & 1n).toBe(0n);
    const targets = [...procFds(supervisor).values()];
    expect(targets).not.toContain("/dev/zero");
    expect(procFds(supervisor).get(0)).toBe("/dev/null");

    // The child: own process group, clean signals, stdio on /dev/null without -o.
    const childStat = procStat(child)!;
    expect(childStat.pgrp).toBe(child);
    expect(childStat.session).toBe(stat.session);
    expect([...procFds(child).keys()].sort()).toEqual([0, 1, 2]);
    expect(procStatus(child).get("SigBlk")).toMatch(/^0+$/);
    expect(procStatus(child).get("SigIgn")).toMatch(/^0+$/);
  });

  test("killed supervisor takes the child along", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "app.pid");
    const supervisorPidfile = join(dir, "sup.pid");
    expect((await tinyd(["-r", "-P", supervisorPidfile, "-p", pidfile, "--", "sleep", "300"])).exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);
    const child = readPid(pidfile);

    process.kill(supervisor, "SIGKILL");
    await waitFor(() => !alive(child), "the parent-death signal to end the child");
    expect(isLocked(pidfile)).toBe(false);
    expect((await tinyd(["status", "-p", pidfile])).exitCode).toBe(1);
  });

  test("rotation by mv and SIGHUP loses nothing", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    const script = "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo line $i; [ $((i % 100)) -eq 0 ] && sleep 0.01; done";
    expect((await tinyd(["-H", "-P", supervisorPidfile, "-p", pidfile, "-o", log, "--", "sh", "-c", script])).exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);

    await waitFor(() => logLines(log).length > 500, "some lines in the log");
    renameSync(log, `${log}.1`);
    process.kill(supervisor, "SIGHUP");
    await waitFor(() => !existsSync(pidfile), "the child to finish", 20_000);

    const lines = [...logLines(`${log}.1`), ...logLines(log)].filter((line) => line.startsWith("line "));
    expect(lines.length).toBe(3000);
    expect(lines.at(-1)).toBe("line 3000");
    expect(logLines(log).some((line) => line.startsWith("line "))).toBe(true);
    expect(logLines(log).some((line) => line.endsWith("reopened the log files"))).toBe(true);
  });

  test("max-size rotates and keeps N files", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["--max-size", "10K", "--keep", "2", "-p", pidfile, "-o", log, "--", "seq", "1", "20000"])).exitCode).toBe(0);
    await waitFor(() => !existsSync(pidfile), "the supervisor to end", 20_000);

    expect(existsSync(`${log}.1`)).toBe(true);
    expect(existsSync(`${log}.2`)).toBe(true);
    expect(existsSync(`${log}.3`)).toBe(false);
    const size = readFileSync(`${log}.1`).length;
    expect(size).toBeGreaterThanOrEqual(10 * 1024);
    expect(size).toBeLessThan(10 * 1024 + 70_000);
    expect(logLines(log).at(-1)).toMatch(/^tinyd\[\d+\]: child \d+ exited with status 0; not restarting/);
  });

  test("syslog lines carry priority and tag", async () => {
    if (!HAS_PYTHON) {
      console.log("skipped: python3 is needed for the test syslog server");
      return;
    }
    const dir = tempDir();
    const socket = join(dir, "log.sock");
    const received = join(dir, "received");
    const server = Bun.spawn(["python3", join(FIXTURES, "syslog_server.py"), socket, received], { stdout: "pipe", stderr: "inherit" });
    try {
      const reader = server.stdout.getReader();
      await reader.read();
      reader.releaseLock();

      const pidfile = join(dir, "app.pid");
      const result = await tinyd(["-S", "-T", "myapp", "-l", "local3", "-s", "info", "--syslog-socket", socket, "-p", pidfile, "--", "sh", "-c", "echo out-line; echo err-line >&2"]);
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      await waitFor(() => !existsSync(pidfile), "the supervisor to end");
      await waitFor(() => logLines(received).some((line) => line.includes("not restarting")), "the supervisor's last message");

      const lines = logLines(received);
      // local3 is facility 19: info (6) gives 158, err (3) gives 155, notice (5) gives 157.
      const out = lines.find((line) => line.endsWith("out-line"))!;
      const err = lines.find((line) => line.endsWith("err-line"))!;
      expect(out).toMatch(/^<158>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d myapp\[\d+\]: out-line$/);
      expect(err).toMatch(/^<155>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d myapp\[\d+\]: err-line$/);
      expect(lines.some((line) => /^<157>.* myapp\[\d+\]: tinyd: started child \d+: sh -c/.test(line) || /^<158>.* myapp\[\d+\]: tinyd: started child/.test(line))).toBe(true);
    } finally {
      server.kill(9);
      await server.exited;
    }
  });

  test("stop during a restart delay ends at once", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["-R", "30", "-P", supervisorPidfile, "-p", pidfile, "-o", log, "--", "sh", "-c", "exit 1"])).exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);
    await waitFor(() => logLines(log).some((line) => line.includes("restarting in")), "the restart delay");

    // Stop waits 15 s by default here, half the delay: exit 0 shows that the supervisor did not wait it out.
    const stop = await tinyd(["stop", "-p", supervisorPidfile]);
    expect(stop.exitCode).toBe(0);
    expect(alive(supervisor)).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
    expect(logLines(log).filter((line) => line.includes("started child")).length).toBe(1);
    expect(logLines(log).at(-1)).toEndWith("stopped during the restart delay");
  });

  test("reload on the child pidfile reaches the supervisor", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["-H", "-P", supervisorPidfile, "-p", pidfile, "-o", log, "--", "sleep", "300"])).exitCode).toBe(0);
    const child = readPid(pidfile);

    const reload = await tinyd(["reload", "-p", pidfile]);
    expect(reload.exitCode).toBe(0);
    expect(reload.stderr).toBe(`tinyd: sent signal HUP to pid ${readPid(supervisorPidfile)} (${pidfile})\n`);
    await waitFor(() => logLines(log).some((line) => line.endsWith("reopened the log files")), "the reopen");
    expect(alive(child)).toBe(true);
  });

  test("QUIT reaches the child, the service stays", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    const script = "trap 'echo got QUIT' QUIT; while :; do sleep 0.1; done";
    expect((await tinyd(["-P", supervisorPidfile, "-p", pidfile, "-o", log, "--", "sh", "-c", script])).exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);
    expect((await tinyd(["signal", "-p", pidfile, "QUIT"])).exitCode).toBe(0);
    await waitFor(() => logLines(log).includes("got QUIT"), "the child's trap");
    expect(alive(supervisor)).toBe(true);
  });

  test("restart-on alone turns restarts on", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["--restart-on", "failure", "-R", "0", "--max-restarts", "2", "-p", pidfile, "-o", log, "--", "sh", "-c", "exit 3"])).exitCode).toBe(0);
    await waitFor(() => !existsSync(pidfile), "the supervisor to give up");
    expect(logLines(log).filter((line) => line.includes("started child")).length).toBe(3);
    const dir2 = tempDir();
    const log2 = join(dir2, "app.log");
    expect((await tinyd(["--max-restarts", "1", "-R", "0", "-o", log2, "--", "sh", "-c", "exit 3"])).exitCode).toBe(0);
    await waitFor(() => logLines(log2).some((line) => line.includes("not restarting")), "the supervisor to give up");
    expect(logLines(log2).filter((line) => line.includes("started child")).length).toBe(2);
  });

  test("reload between children reaches the supervisor", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["-H", "-R", "30", "-P", supervisorPidfile, "-p", pidfile, "-o", log, "--", "sh", "-c", "exit 3"])).exitCode).toBe(0);
    await waitFor(() => logLines(log).some((line) => line.includes("restarting in")), "the restart delay");
    expect(readFileSync(pidfile, "utf8")).toBe("");

    const reload = await tinyd(["reload", "-p", pidfile]);
    expect(reload.exitCode).toBe(0);
    await waitFor(() => logLines(log).some((line) => line.endsWith("reopened the log files")), "the reopen");
  });

  test("kill leaves no files of the service", async () => {
    const dir = tempDir();
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    const grandchildPidfile = join(dir, "grandchild.pid");
    const script = `trap '' TERM; sleep 300 & echo $! > ${grandchildPidfile}; while :; do sleep 1; done`;
    expect((await tinyd(["-r", "--stop-timeout", "30", "-P", supervisorPidfile, "-p", pidfile, "--", "sh", "-c", script])).exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);
    const grandchild = await pidOnceWritten(grandchildPidfile);

    const stop = await tinyd(["stop", "-p", pidfile, "--timeout", "0.5", "--kill"]);
    expect(stop.exitCode).toBe(0);
    expect(alive(supervisor)).toBe(false);
    await waitFor(() => !alive(grandchild), "the grandchild to die with its group");
    for (const file of [pidfile, supervisorPidfile, `${pidfile}.state`, `${supervisorPidfile}.state`]) expect(existsSync(file)).toBe(false);
    expect((await tinyd(["status", "-p", pidfile])).exitCode).toBe(3);
  });

  test("status refuses a pid that is not the child", async () => {
    const dir = tempDir();
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["-r", "-P", supervisorPidfile, "-p", pidfile, "--", "sleep", "300"])).exitCode).toBe(0);
    writeFileSync(pidfile, `${process.pid}\n`);
    const status = await tinyd(["status", "-p", pidfile]);
    expect(status.exitCode).toBe(4);
    expect(status.stdout).toStartWith(`unknown: ${pidfile} is locked, but pid ${process.pid} in it is not the process that holds it`);
  });

  test("hard-linked -P and -p exit 64", async () => {
    const dir = tempDir();
    const first = join(dir, "same.pid");
    const second = join(dir, "hard.pid");
    writeFileSync(first, "");
    linkSync(first, second);
    const result = await tinyd(["-r", "-P", first, "-p", second, "--", "sleep", "1"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe(`tinyd: -P and -p both name ${second}: the supervisor and its child need a pidfile each\n`);
  });

  test("same file for -P and -p exits 64", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "same.pid");
    const result = await tinyd(["-P", pidfile, "-p", pidfile, "--", "sleep", "1"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe(`tinyd: -P and -p both name ${pidfile}: the supervisor and its child need a pidfile each\n`);
    expect(existsSync(pidfile)).toBe(false);
  });

  test("long title keeps the child's pid", async () => {
    const dir = tempDir();
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["-t", "averyveryverylongtitle", "-P", supervisorPidfile, "-p", pidfile, "--", "sleep", "300"])).exitCode).toBe(0);
    const child = String(readPid(pidfile));
    const name = readFileSync(`/proc/${readPid(supervisorPidfile)}/comm`, "utf8").trim();
    expect(name).toEndWith(`[${child}]`);
    expect(name.length).toBeLessThanOrEqual(15);
  });

  test("title names the supervisor", async () => {
    const dir = tempDir();
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["-t", "web", "-P", supervisorPidfile, "-p", pidfile, "--", "sleep", "300"])).exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);
    const child = readPid(pidfile);
    // Linux keeps 15 bytes of the name.
    expect(readFileSync(`/proc/${supervisor}/comm`, "utf8").trim()).toBe(`web[${child}]`.slice(0, 15));
  });

  test("output mask and timestamps", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const pidfile = join(dir, "app.pid");
    const script = "echo to-stdout; echo to-stderr >&2; echo; echo last";
    expect((await tinyd(["-m", "1", "--timestamps", "-p", pidfile, "-o", log, "--", "sh", "-c", script])).exitCode).toBe(0);
    await waitFor(() => !existsSync(pidfile), "the supervisor to end");

    const lines = logLines(log);
    const stamp = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";
    const childLines = lines.filter((line) => !line.includes(" tinyd["));
    expect(childLines.length).toBe(3);
    expect(childLines[0]).toMatch(new RegExp(`^${stamp} to-stdout$`));
    expect(childLines[1]).toMatch(new RegExp(`^${stamp} $`));
    expect(childLines[2]).toMatch(new RegExp(`^${stamp} last$`));
    expect(lines.some((line) => line.endsWith(" to-stderr"))).toBe(false);
  });

  test("timestamps keep bytes that are not UTF-8", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["--timestamps", "-p", pidfile, "--stdout", log, "--", "sh", "-c", "printf 'caf\\351\\n'"])).exitCode).toBe(0);
    await waitFor(() => !existsSync(pidfile), "the supervisor to end");
    const bytes = readFileSync(log);
    expect(bytes.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]))).toBe(true);
  });

  test("endless line is cut at 64 KiB", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const pidfile = join(dir, "app.pid");
    // 200,000 bytes without a newline: cut into pieces of at most 64 KiB, none lost.
    expect((await tinyd(["--supervise", "-p", pidfile, "--stdout", log, "--", "sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a"])).exitCode).toBe(0);
    await waitFor(() => !existsSync(pidfile), "the supervisor to end");
    const pieces = logLines(log).filter((line) => /^a+$/.test(line));
    expect(pieces.reduce((sum, line) => sum + line.length, 0)).toBe(200_000);
    for (const piece of pieces) expect(piece.length).toBeLessThanOrEqual(64 * 1024);
    expect(pieces.length).toBeGreaterThanOrEqual(4);
  });

  test("restart-on failure ends after success", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    const pidfile = join(dir, "app.pid");
    const marker = join(dir, "ran-once");
    // The first run fails and the second succeeds, which ends the service.
    const script = `if [ -e ${marker} ]; then exit 0; fi; touch ${marker}; exit 1`;
    expect((await tinyd(["-r", "-R", "0", "--restart-on", "failure", "-p", pidfile, "-o", log, "--", "sh", "-c", script])).exitCode).toBe(0);
    await waitFor(() => !existsSync(pidfile), "the supervisor to end");

    const lines = logLines(log);
    expect(lines.filter((line) => line.includes("started child")).length).toBe(2);
    expect(lines.at(-1)).toContain("exited with status 0; not restarting: it exited with status 0 and --restart-on is failure");
  });

  test("only the child drops privileges", async () => {
    if (!IS_ROOT) {
      console.log("skipped: needs root to run the child as nobody");
      return;
    }
    const dir = tempDir();
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    const result = await tinyd(["-r", "-u", "nobody", "-P", supervisorPidfile, "-p", pidfile, "--", "sleep", "300"]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);
    const child = readPid(pidfile);
    expect(procStatus(supervisor).get("Uid")).toBe("0\t0\t0\t0");
    expect(procStatus(child).get("Uid")).toBe("65534\t65534\t65534\t65534");
    expect(procStatus(child).get("Groups")).toBe("");
  });

  test("first child's readiness gates the launcher", async () => {
    if (!HAS_PYTHON) {
      console.log("skipped: python3 is the sd_notify client of this test");
      return;
    }
    const dir = tempDir();
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    const log = join(dir, "app.log");
    const marker = join(dir, "ready-at");
    const notify = `import os, socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"STATUS=warming up\\nREADY=1", os.environ["NOTIFY_SOCKET"])`;
    // The child reports ready after 0.3 s; the launcher must not return before.
    const script = `sleep 0.3; date +%s%N > ${marker}; python3 -c '${notify}'; exec sleep 300`;
    const started = Date.now();
    const result = await tinyd(["-r", "--wait-ready=10", "-P", supervisorPidfile, "-p", pidfile, "-o", log, "--", "sh", "-c", script]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);

    const child = readPid(pidfile);
    const env = procEnviron(child);
    expect(env.has("NOTIFY_SOCKET")).toBe(true);
    // The socket is gone once the child is ready, so its later children cannot use it.
    expect(existsSync(env.get("NOTIFY_SOCKET")!)).toBe(false);

    const status = JSON.parse((await tinyd(["status", "--json", "-p", pidfile])).stdout);
    expect(status.supervisor.ready).toBe(true);
    const lines = logLines(log);
    expect(lines.some((line) => line.endsWith(`child ${child} status: warming up`))).toBe(true);
    expect(lines.some((line) => new RegExp(`child ${child} is ready after \\d+ ms \\(sd_notify\\)$`).test(line))).toBe(true);
  });

  test("restart's readiness is logged", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "app.pid");
    const log = join(dir, "app.log");
    // s6 style: a newline on fd 5.
    const result = await tinyd(["-r", "-R", "0", "--notify-fd", "5", "-p", pidfile, "-o", log, "--", "sh", "-c", "echo >&5; exec sleep 300"]);
    expect(result.exitCode).toBe(0);
    const first = readPid(pidfile);
    process.kill(first, "SIGKILL");
    const second = await pidOnceWritten(pidfile, first);
    await waitFor(() => logLines(log).some((line) => line.includes(`child ${second} is ready after`)), "the restart's readiness in the log");
    expect(logLines(log).some((line) => line.includes(`child ${second} is ready after`) && line.endsWith("(notify-fd)"))).toBe(true);
  });

  test("child exiting before ready exits 69", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "app.pid");
    const supervisorPidfile = join(dir, "sup.pid");
    const log = join(dir, "app.log");
    const result = await tinyd(["-r", "--wait-ready=10", "-P", supervisorPidfile, "-p", pidfile, "-o", log, "--", "sh", "-c", "echo cannot bind >&2; exit 3"]);
    expect(result.exitCode).toBe(69);
    expect(result.stderr).toBe(`tinyd: the daemon exited with status 3 before it reported ready; see ${log}\n`);
    expect(existsSync(pidfile)).toBe(false);
    expect(existsSync(supervisorPidfile)).toBe(false);
    expect(logLines(log)).toContain("cannot bind");
    expect(taggedProcesses().filter((pid) => procStat(pid)?.comm === "tinyd")).toEqual([]);
  });

  test("child never ready times out with 75", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "app.pid");
    const result = await tinyd(["-r", "--wait-ready=0.5", "-p", pidfile, "--", "sleep", "300"]);
    expect(result.exitCode).toBe(75);
    expect(result.stderr).toBe("tinyd: the daemon did not report ready within 0.5 s and was stopped\n");
    expect(existsSync(pidfile)).toBe(false);
    await Bun.sleep(100);
    expect(taggedProcesses().filter((pid) => ["sleep", "tinyd"].includes(procStat(pid)?.comm ?? ""))).toEqual([]);
  });

  test("supervisor-user drops the supervisor too", async () => {
    if (!IS_ROOT) {
      console.log("skipped: needs root to switch the supervisor to nobody");
      return;
    }
    const dir = tempDir();
    chownSync(dir, 65534, 65534);
    const supervisorPidfile = join(dir, "sup.pid");
    const pidfile = join(dir, "app.pid");
    const result = await tinyd(["-r", "--supervisor-user", "nobody", "-P", supervisorPidfile, "-p", pidfile, "--", "sleep", "300"]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const supervisor = readPid(supervisorPidfile);
    const child = readPid(pidfile);
    expect(procStatus(supervisor).get("Uid")).toBe("65534\t65534\t65534\t65534");
    expect(procStatus(supervisor).get("Groups")).toBe("");
    expect(procStatus(child).get("Uid")).toBe("65534\t65534\t65534\t65534");

    // It can still restart and stop its child, and remove its pidfiles from a directory it may write to.
    process.kill(child, "SIGKILL");
    const second = await pidOnceWritten(pidfile, child);
    expect(procStatus(second).get("Uid")).toBe("65534\t65534\t65534\t65534");
    expect((await tinyd(["stop", "-p", supervisorPidfile])).exitCode).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
    expect(existsSync(supervisorPidfile)).toBe(false);
  });

  test("supervisor-user needs writable directories", async () => {
    if (!IS_ROOT) {
      console.log("skipped: needs root to name a user to switch to");
      return;
    }
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const pidfile = join(dir, "app.pid");
    const result = await tinyd(["-r", "--supervisor-user", "nobody", "-p", pidfile, "--", "sleep", "300"]);
    expect(result.exitCode).toBe(77);
    expect(result.stderr).toBe(
      `tinyd: --supervisor-user nobody cannot write to ${dir}, where the supervisor keeps ${pidfile}: give the directory to that user (chown) or choose another path\n`,
    );
    expect(existsSync(pidfile)).toBe(false);
  });

  test("supervisor-user and another -u exit 64", async () => {
    if (!IS_ROOT) {
      console.log("skipped: needs root to name users to switch to");
      return;
    }
    const result = await tinyd(["-r", "--supervisor-user", "nobody", "-u", "root", "--", "sleep", "1"]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe(
      "tinyd: -u root and --supervisor-user nobody name different users, but a supervisor that is not root cannot start its child as another user: give the same user or leave one out\n",
    );
  });

  test("missing syslog socket exits 69", async () => {
    const dir = tempDir();
    const result = await tinyd(["-S", "--syslog-socket", join(dir, "none.sock"), "--", "sleep", "1"]);
    expect(result.exitCode).toBe(69);
    expect(result.stderr).toBe(`tinyd: cannot log to syslog: ${join(dir, "none.sock")} does not exist. Start a syslog daemon or pass --syslog-socket\n`);
  });

  test("invalid supervision values exit 64", async () => {
    const cases: [string[], string][] = [
      [["-R", "soon"], "tinyd: invalid --restart-delay 'soon': expected a number of seconds, 0 or more\n"],
      [["--restart-on", "sometimes"], "tinyd: invalid --restart-on 'sometimes': expected always or failure\n"],
      [["-r", "--no-restart-exit", "300"], "tinyd: invalid --no-restart-exit '300': expected exit codes from 0 to 255, such as 0 or 0,78\n"],
      [["-r", "--max-size", "10M"], "tinyd: --max-size rotates an output file: give -o, --stdout or --stderr as well\n"],
      [["-r", "-m", "4"], "tinyd: invalid --output-mask '4': expected 1 (stdout), 2 (stderr) or 3 (both)\n"],
      [["-r", "-F"], "tinyd: --foreground and supervision options cannot be combined: a supervisor always detaches\n"],
    ];
    for (const [options, message] of cases) {
      const result = await tinyd([...options, "--", "sleep", "1"]);
      expect(result.stderr).toBe(message);
      expect(result.exitCode).toBe(64);
    }
  });

  test("second supervised start is refused", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "app.pid");
    expect((await tinyd(["-r", "-p", pidfile, "--", "sleep", "300"])).exitCode).toBe(0);
    const child = readPid(pidfile);
    const again = await tinyd(["-r", "-p", pidfile, "--", "sleep", "300"]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toBe(`tinyd: already running as pid ${child} (${pidfile})\n`);
  });

  test("missing command exits 127 without a supervisor", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "app.pid");
    const result = await tinyd(["-r", "-p", pidfile, "--", "tinyd-no-such-command"]);
    expect(result.exitCode).toBe(127);
    expect(existsSync(pidfile)).toBe(false);
    expect(taggedProcesses().filter((pid) => procStat(pid)?.comm === "tinyd")).toEqual([]);
  });
});
