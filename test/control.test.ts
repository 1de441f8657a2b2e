/**
 * End-to-end tests of status, stop, signal and reload against real daemons.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, isLocked, readPid, TAG, tempDir, tinyd, waitFor } from "./helpers";


/** Starts `sh -c SCRIPT` as a daemon and returns its pid. */
async function startDaemon(pidfile: string, script: string, extra: string[] = []): Promise<number> {
  const result = await tinyd([...extra, "-p", pidfile, "--", "sh", "-c", script]);
  if (result.exitCode !== 0) throw new Error(`tinyd start failed with ${result.exitCode}: ${result.stderr}`);
  return readPid(pidfile);
}

/** Starts an unrelated process that tinyd did not launch and that no pidfile locks. */
function startBystander(): { pid: number; stop: () => void } {
  const proc = Bun.spawn(["sleep", "300"], { stdio: ["ignore", "ignore", "ignore"] });
  return { pid: proc.pid, stop: () => proc.kill(9) };
}

describe("status", () => {
  test("running daemon reports 0 with details", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const pid = await startDaemon(pidfile, "exec sleep 300");

    const text = await tinyd(["status", "-p", pidfile]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toStartWith(`running as pid ${pid} since `);
    expect(text.stdout).toContain(": sleep 300");

    const json = await tinyd(["status", "--json", "-p", pidfile]);
    expect(json.exitCode).toBe(0);
    const status = JSON.parse(json.stdout);
    expect(status.state).toBe("running");
    expect(status.pid).toBe(pid);
    expect(status.pidfile).toBe(pidfile);
    expect(status.command).toEqual(["sleep", "300"]);
    const startedAt = Date.parse(status.startedAt);
    expect(Math.abs(startedAt - Date.now())).toBeLessThan(60_000);
  });

  test("missing pidfile reports 3", async () => {
    const dir = tempDir();
    const result = await tinyd(["status", "-p", join(dir, "none.pid")]);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe(`not running (no pidfile at ${join(dir, "none.pid")})\n`);
    const json = await tinyd(["status", "--json", "-p", join(dir, "none.pid")]);
    expect(json.exitCode).toBe(3);
    expect(JSON.parse(json.stdout).state).toBe("stopped");
  });

  test("unlocked pidfile reports 1", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "stale.pid");
    writeFileSync(pidfile, `${process.pid}\n`);
    const result = await tinyd(["status", "-p", pidfile]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toStartWith(`dead: ${pidfile} exists but is not locked`);
  });

  test("locked pidfile naming another pid reports 4", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    await startDaemon(pidfile, "exec sleep 300");
    writeFileSync(pidfile, `${process.pid}\n`);
    const result = await tinyd(["status", "-p", pidfile]);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toBe(`unknown: ${pidfile} is locked, but pid ${process.pid} in it is not the process that holds it; a process that the daemon started may hold the lock\n`);
  });

  test("unreadable pidfile reports 4", async () => {
    const dir = tempDir();
    // A directory where the pidfile should be cannot be read as one.
    const pidfile = join(dir, "dir.pid");
    mkdirSync(pidfile);
    const result = await tinyd(["status", "-p", pidfile]);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toStartWith("unknown: ");
  });

  test("quiet status prints nothing", async () => {
    const dir = tempDir();
    const result = await tinyd(["status", "-q", "-p", join(dir, "none.pid")]);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe("");
  });
});

describe("stop", () => {
  test("stops a daemon and waits for it", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const pid = await startDaemon(pidfile, "exec sleep 300");

    const result = await tinyd(["stop", "-p", pidfile]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe(`tinyd: stopped pid ${pid} (${pidfile})\n`);
    expect(alive(pid)).toBe(false);
    // Stop removes the pidfile, so status reports "not running" rather than "dead".
    expect(existsSync(pidfile)).toBe(false);
    expect((await tinyd(["status", "-p", pidfile])).exitCode).toBe(3);
  });

  test("not running exits 0 with a message", async () => {
    const dir = tempDir();
    const result = await tinyd(["stop", "-p", join(dir, "none.pid")]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe(`tinyd: not running (${join(dir, "none.pid")})\n`);
  });

  test("daemon ignoring TERM times out, then kill", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    // The trap makes the shell ignore TERM; --keep-signals is not needed for that.
    const pid = await startDaemon(pidfile, "trap '' TERM; while :; do sleep 1; done");

    const timedOut = await tinyd(["stop", "-p", pidfile, "--timeout", "0.3"]);
    expect(timedOut.exitCode).toBe(1);
    expect(timedOut.stderr).toBe(`tinyd: pid ${pid} did not exit in time (${pidfile}); use --kill to send SIGKILL after the timeout\n`);
    expect(alive(pid)).toBe(true);

    const killed = await tinyd(["stop", "-p", pidfile, "--timeout", "0.3", "--kill"]);
    expect(killed.exitCode).toBe(0);
    expect(killed.stderr).toBe(`tinyd: killed pid ${pid} with SIGKILL (${pidfile})\n`);
    await waitFor(() => !alive(pid), `pid ${pid} to die`);
  });

  test("custom signal is sent", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const marker = join(dir, "got-usr1");
    const pid = await startDaemon(pidfile, `trap 'touch ${marker}; exit 0' USR1; while :; do sleep 0.1; done`);

    const result = await tinyd(["stop", "-p", pidfile, "--signal", "USR1"]);
    expect(result.exitCode).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(alive(pid)).toBe(false);
  });

  test("stale pidfile of a live process is left alone", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "stale.pid");
    const bystander = startBystander();
    try {
      writeFileSync(pidfile, `${bystander.pid}\n`);

      const stop = await tinyd(["stop", "-p", pidfile, "--kill", "--timeout", "0.2"]);
      expect(stop.exitCode).toBe(0);
      expect(stop.stderr).toBe(`tinyd: not running (${pidfile})\n`);

      const signal = await tinyd(["signal", "-p", pidfile, "KILL"]);
      expect(signal.exitCode).toBe(3);
      expect(signal.stderr).toBe(`tinyd: not running: ${pidfile} is missing or not locked, so no signal was sent\n`);

      const reload = await tinyd(["reload", "-p", pidfile]);
      expect(reload.exitCode).toBe(3);

      expect(alive(bystander.pid)).toBe(true);
    } finally {
      bystander.stop();
    }
  });

  test("forged pid in a locked pidfile is refused", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const daemon = await startDaemon(pidfile, "exec sleep 300");
    const bystander = startBystander();
    try {
      // The lock stays with the daemon while another pid is written into the file.
      writeFileSync(pidfile, `${bystander.pid}\n`);
      const message = `tinyd: ${pidfile} is locked, but pid ${bystander.pid} in it is not the process that holds it, so no signal was sent. Check who can write to the pidfile's directory\n`;

      const stop = await tinyd(["stop", "-p", pidfile, "--kill", "--timeout", "0.2"]);
      expect(stop.exitCode).toBe(4);
      expect(stop.stderr).toBe(message);

      const signal = await tinyd(["signal", "-p", pidfile, "KILL"]);
      expect(signal.exitCode).toBe(4);
      expect(signal.stderr).toBe(message);

      expect(alive(bystander.pid)).toBe(true);
      expect(alive(daemon)).toBe(true);
    } finally {
      bystander.stop();
    }
  });

  test("kill reaches what the daemon started", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const childPidfile = join(dir, "child.pid");
    // The background sleep inherits fd 3 and so the lock; it must die too.
    const pid = await startDaemon(pidfile, `trap '' TERM; sleep 300 & echo $! > ${childPidfile}; while :; do sleep 0.1; done`);
    await waitFor(() => existsSync(childPidfile) && readFileSync(childPidfile, "utf8").trim() !== "", "the child's pid");
    const child = Number(readFileSync(childPidfile, "utf8").trim());

    const stop = await tinyd(["stop", "-p", pidfile, "--timeout", "0.3", "--kill"]);
    expect(stop.exitCode).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(alive(child)).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
  });

  test("locked pidfile without a pid is refused", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    writeFileSync(pidfile, "garbage\n");
    // flock runs sleep as its child, which inherits the lock: the tag and a
    // process group of its own let the cleanup reach both.
    const holder = Bun.spawn(["flock", pidfile, "sleep", "300"], {
      stdio: ["ignore", "ignore", "ignore"],
      env: { ...process.env, TINYD_TEST_TAG: TAG },
      detached: true,
    });
    try {
      await waitFor(() => isLocked(pidfile), "the holder's lock");
      const stop = await tinyd(["stop", "-p", pidfile]);
      expect(stop.exitCode).toBe(4);
      expect(stop.stderr).toBe(`tinyd: ${pidfile} is locked but names no pid, so tinyd cannot tell which process to stop. Find the holder with 'fuser ${pidfile}'\n`);
      expect(alive(holder.pid)).toBe(true);
    } finally {
      process.kill(-holder.pid, "SIGKILL");
      await holder.exited;
    }
  });

  test("lock kept by the daemon's child is named", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    // The shell exits at once and its background sleep keeps fd 3, the lock.
    const pid = await startDaemon(pidfile, "sleep 300 & exit 0");
    await waitFor(() => !alive(pid), "the daemon to exit");
    const message = `${pidfile} is locked, but pid ${pid} in it has exited; a process that it started holds the lock. Find it with 'fuser ${pidfile}'`;

    const stop = await tinyd(["stop", "-p", pidfile]);
    expect(stop.exitCode).toBe(4);
    expect(stop.stderr).toBe(`tinyd: ${message}\n`);
    const start = await tinyd(["-p", pidfile, "--", "sleep", "300"]);
    expect(start.exitCode).toBe(1);
    expect(start.stderr).toBe(`tinyd: ${message.replace("is locked", "is still locked")}\n`);
  });

  test("stop removes a stale pidfile", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "stale.pid");
    writeFileSync(pidfile, "999999\n");
    const stop = await tinyd(["stop", "-p", pidfile]);
    expect(stop.exitCode).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  });

  test("invalid timeout and signal exit 64", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const timeout = await tinyd(["stop", "-p", pidfile, "--timeout", "soon"]);
    expect(timeout.exitCode).toBe(64);
    expect(timeout.stderr).toBe("tinyd: invalid timeout 'soon': expected a number of seconds, 0 or more\n");

    const signal = await tinyd(["stop", "-p", pidfile, "--signal", "SIGNOPE"]);
    expect(signal.exitCode).toBe(64);
    expect(signal.stderr).toContain("invalid signal 'SIGNOPE'");
  });

  test("missing pidfile option exits 64", async () => {
    for (const sub of ["stop", "status", "reload"]) {
      const result = await tinyd([sub]);
      expect(result.exitCode).toBe(64);
      expect(result.stderr).toBe(`tinyd: tinyd ${sub} needs -p FILE, the daemon's pidfile\n`);
    }
  });
});

describe("signal and reload", () => {
  test("signal by name and number, reload sends HUP", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const log = join(dir, "signals.log");
    const pid = await startDaemon(pidfile, `trap 'echo USR2' USR2; trap 'echo HUP' HUP; trap 'echo TERM; exit 0' TERM; while :; do sleep 0.05; done`, ["-o", log]);
    const lines = () => readFileSync(log, "utf8");

    expect((await tinyd(["signal", "-p", pidfile, "usr2"])).exitCode).toBe(0);
    await waitFor(() => lines() === "USR2\n", "USR2 in the log");

    const reload = await tinyd(["reload", "-p", pidfile]);
    expect(reload.exitCode).toBe(0);
    expect(reload.stderr).toBe(`tinyd: sent signal HUP to pid ${pid} (${pidfile})\n`);
    await waitFor(() => lines() === "USR2\nHUP\n", "HUP in the log");

    expect((await tinyd(["signal", "-p", pidfile, "15"])).exitCode).toBe(0);
    await waitFor(() => lines() === "USR2\nHUP\nTERM\n", "TERM in the log");
    await waitFor(() => !alive(pid), `pid ${pid} to exit`);
  });

  test("signal needs a signal argument", async () => {
    const dir = tempDir();
    const result = await tinyd(["signal", "-p", join(dir, "d.pid")]);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toBe("tinyd: missing SIGNAL. Usage: tinyd signal -p FILE SIGNAL\n");
  });
});
