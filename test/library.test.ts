/**
 * Tests of the module API (`import … from "tinyd"`) in-process, against real
 * daemons started by this test process itself.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { daemonStatus, readPidfile, signalDaemon, spawnDaemon, stopDaemon, TinydError } from "../src/index";
import { alive, procStat, TAG, tempDir, waitFor } from "./helpers";

const tagged = { TINYD_TEST_TAG: TAG };

describe("library", () => {
  test("spawnDaemon then status and stop", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const daemon = await spawnDaemon(["sleep", "300"], { pidfile, env: tagged });
    expect(daemon.pidfile).toBe(pidfile);
    expect(alive(daemon.pid)).toBe(true);
    expect(procStat(daemon.pid)!.ppid).not.toBe(process.pid);

    expect(readPidfile(pidfile)).toEqual({ path: pidfile, exists: true, locked: true, pid: daemon.pid, malformed: false });
    const status = daemonStatus(pidfile);
    expect(status.state).toBe("running");
    expect(status.code).toBe(0);
    expect(status.pid).toBe(daemon.pid);

    const stopped = await stopDaemon(pidfile, { timeout: 5 });
    expect(stopped).toEqual({ wasRunning: true, stopped: true, pid: daemon.pid, killed: false });
    expect(alive(daemon.pid)).toBe(false);
  });

  test("errors are typed with codes", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    await spawnDaemon(["sleep", "300"], { pidfile, env: tagged });

    const again = await spawnDaemon(["sleep", "300"], { pidfile, env: tagged }).catch((error: unknown) => error);
    expect(again).toBeInstanceOf(TinydError);
    expect((again as TinydError).code).toBe("E_ALREADY_RUNNING");
    expect((again as TinydError).exitCode).toBe(1);
    expect((again as TinydError).details.path).toBe(pidfile);

    const missing = await spawnDaemon(["tinyd-no-such-command"], { env: tagged }).catch((error: unknown) => error);
    expect((missing as TinydError).code).toBe("E_EXEC");
    expect((missing as TinydError).exitCode).toBe(127);

    const badUmask = await spawnDaemon(["sleep", "1"], { umask: "8", env: tagged }).catch((error: unknown) => error);
    expect((badUmask as TinydError).code).toBe("E_USAGE");

    expect(() => signalDaemon(join(dir, "none.pid"), "HUP")).toThrow(TinydError);
  });

  test("supervised spawn reports both pids", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const service = await spawnDaemon(["sleep", "300"], { pidfile, restart: true, restartDelay: 0, env: tagged });
    expect(service.supervisorPid).toBeGreaterThan(0);
    expect(procStat(service.pid)!.ppid).toBe(service.supervisorPid!);

    process.kill(service.pid, "SIGKILL");
    await waitFor(() => {
      const pid = readPidfile(pidfile).pid;
      return pid !== null && pid !== service.pid;
    }, "a restarted child");
    expect(daemonStatus(pidfile).supervisor?.restarts).toBe(1);

    const stopped = await stopDaemon(pidfile);
    expect(stopped.pid).toBe(service.supervisorPid!);
    expect(existsSync(pidfile)).toBe(false);
  });
});
