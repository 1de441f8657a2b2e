/**
 * End-to-end tests of daemonize(), runDaemon() and the examples, run from
 * source and compiled with `bun build --compile`, on real processes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alive, isLocked, procEnviron, procFds, procStat, procStatus, readPid, ROOT, TAG, taggedProcesses, tempDir, tinyd, waitFor } from "./helpers";

const FIXTURE = join(ROOT, "test", "fixtures", "daemonize.ts");
const EXAMPLES = join(ROOT, "examples");

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a command with this run's tag, so that afterEach kills whatever daemon it leaves. */
async function run(command: string[], cwd?: string): Promise<Run> {
  const proc = Bun.spawn(command, {
    cwd,
    env: { ...process.env, TINYD_TEST_TAG: TAG },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr };
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  return port;
}

/** Children of `pid`, found through /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((candidate) => procStat(candidate)?.ppid === pid);
}

const compiled = { directory: "", httpServer: "", worker: "" };

beforeAll(() => {
  // A directory of its own, because tempDir() directories go after each test.
  compiled.directory = mkdtempSync(join(tmpdir(), "tinyd-examples-"));
  for (const name of ["http-server", "worker"] as const) {
    const outfile = join(compiled.directory, name);
    const build = Bun.spawnSync([process.execPath, "build", "--compile", join(EXAMPLES, `${name}.ts`), "--outfile", outfile], { stdout: "ignore", stderr: "pipe" });
    if (build.exitCode !== 0) throw new Error(`bun build --compile ${name}.ts failed: ${build.stderr.toString()}`);
    if (name === "http-server") compiled.httpServer = outfile;
    else compiled.worker = outfile;
  }
});

afterAll(() => {
  if (compiled.directory !== "") rmSync(compiled.directory, { recursive: true, force: true });
});

describe("daemonize", () => {
  test("daemon passes the /proc checks", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const result = await run([process.execPath, FIXTURE, "sleep", pidfile], dir);

    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const pid = readPid(pidfile);
    expect(alive(pid)).toBe(true);
    expect(isLocked(pidfile)).toBe(true);

    const stat = procStat(pid)!;
    expect(stat.ppid).not.toBe(process.pid);
    expect(stat.session).not.toBe(procStat(process.pid)!.session);
    expect(stat.session).not.toBe(pid);
    expect(stat.pgrp).not.toBe(pid);
    expect(stat.ttyNr).toBe(0);

    const fds = procFds(pid);
    expect(fds.get(0)).toBe("/dev/null");
    expect(fds.get(1)).toBe("/dev/null");
    // stderr went to a private capture file until the daemon was ready.
    expect(fds.get(2)).toBe("/dev/null");
    expect(fds.get(3)).toBe(pidfile);
    // Above 3 only the runtime's own event loop: no socket, pipe or file of the launcher.
    const others = [...fds].filter(([fd]) => fd > 3).map(([, target]) => target);
    for (const target of others) expect(target).toStartWith("anon_inode:");

    const status = procStatus(pid);
    expect(status.get("Umask")).toBe("0022");
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe("/");
  });

  test("children after ready inherit no readiness", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const result = await run([process.execPath, FIXTURE, "child", pidfile], dir);
    expect(result.exitCode).toBe(0);

    const pid = readPid(pidfile);
    const sleeper = (name: string) => childrenOf(pid).find((child) => procStat(child)?.comm === "sleep" && readFileSync(`/proc/${child}/cmdline`, "utf8").includes(name));
    await waitFor(() => sleeper("300") !== undefined && sleeper("301") !== undefined, "the daemon's children");

    // node:child_process passes process.env, from which READY=1 removed the variables.
    const fromProcessEnv = procEnviron(sleeper("301")!);
    expect(fromProcessEnv.has("NOTIFY_SOCKET")).toBe(false);
    expect(fromProcessEnv.has("TINYD_DAEMONIZE")).toBe(false);
    expect(fromProcessEnv.get("TINYD_TEST_TAG")).toBe(TAG);

    // Bun.spawn passes the environment the daemon started with, but what it names is gone.
    const fromStartEnv = procEnviron(sleeper("300")!);
    expect(existsSync(fromStartEnv.get("NOTIFY_SOCKET")!)).toBe(false);
    expect(existsSync(fromStartEnv.get("TINYD_DAEMONIZE")!)).toBe(false);
  });

  test("daemon's child daemonizes on its own", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const nestedPidfile = join(dir, "nested.pid");
    const result = await run([process.execPath, FIXTURE, "nested", pidfile, nestedPidfile], dir);
    expect(result.exitCode).toBe(0);

    const pid = readPid(pidfile);
    await waitFor(() => existsSync(`${nestedPidfile}.status`), "the nested launcher to exit");
    expect(readFileSync(`${nestedPidfile}.status`, "utf8")).toBe("0");
    const nested = readPid(nestedPidfile);
    expect(nested).not.toBe(pid);
    expect(alive(nested)).toBe(true);
    // A real daemon of its own: not the child of the first one, and in another session.
    expect(procStat(nested)!.ppid).not.toBe(pid);
    expect(procStat(nested)!.session).not.toBe(procStat(pid)!.session);
  });

  test("throw before ready exits 69 with the error", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const before = new Set(taggedProcesses());
    const result = await run([process.execPath, FIXTURE, "throw", pidfile], dir);

    expect(result.exitCode).toBe(69);
    expect(result.stderr).toMatch(/^daemonize\.ts: pid \d+ \(\S+\) exited before it was ready\. Its last lines on stderr:\n  starting up\n/);
    expect(result.stderr).toContain("error: cannot open the database");
    expect(existsSync(pidfile)).toBe(false);
    expect(taggedProcesses().filter((pid) => !before.has(pid))).toEqual([]);
  });

  test("no ready signal times out with 75", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    const before = new Set(taggedProcesses());
    const result = await run([process.execPath, FIXTURE, "silent", pidfile], dir);

    expect(result.exitCode).toBe(75);
    expect(result.stderr).toMatch(/^daemonize\.ts: timed out after 1 s waiting for pid \d+ \(\S+\) to be ready, and stopped it\. It wrote nothing to stderr\n$/);
    expect(existsSync(pidfile)).toBe(false);
    expect(taggedProcesses().filter((pid) => !before.has(pid))).toEqual([]);
  });

  test("locked pidfile is refused", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "d.pid");
    expect((await run([process.execPath, FIXTURE, "sleep", pidfile], dir)).exitCode).toBe(0);
    const first = readPid(pidfile);

    const second = await run([process.execPath, FIXTURE, "sleep", pidfile], dir);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toBe(`daemonize.ts: already running as pid ${first} (${pidfile})\n`);
    expect(readPid(pidfile)).toBe(first);
  });

  test("notify outside a daemon does nothing", async () => {
    const env = { ...process.env };
    delete env.NOTIFY_SOCKET;
    delete env.TINYD_NOTIFY_FD;
    const proc = Bun.spawn([process.execPath, join(ROOT, "test", "fixtures", "notify.ts"), "READY=1\nSTATUS=x"], { env, stdout: "pipe" });
    const output = JSON.parse(await new Response(proc.stdout).text());
    expect(await proc.exited).toBe(0);
    expect(output.delivered).toBe(false);
  });
});

for (const form of ["source", "compiled"] as const) {
  const httpServer = () => (form === "source" ? [process.execPath, join(EXAMPLES, "http-server.ts")] : [compiled.httpServer]);
  const worker = () => (form === "source" ? [process.execPath, join(EXAMPLES, "worker.ts")] : [compiled.worker]);

  describe(`examples (${form})`, () => {
    test("http-server accepts once the parent exits", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "web.pid");
      const log = join(dir, "web.log");
      const port = freePort();
      const result = await run([...httpServer(), "--pidfile", pidfile, "--port", String(port), "--log", log], dir);

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      // No retry: readiness means the server listens by the time the parent exits.
      const response = await fetch(`http://127.0.0.1:${port}/`);
      const pid = readPid(pidfile);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(`hello from pid ${pid}\n`);
      expect(procStat(pid)!.ttyNr).toBe(0);
    });

    test("http-server stops cleanly on SIGTERM", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "web.pid");
      const log = join(dir, "web.log");
      const port = freePort();
      expect((await run([...httpServer(), "--pidfile", pidfile, "--port", String(port), "--log", log], dir)).exitCode).toBe(0);
      const pid = readPid(pidfile);

      const stop = await tinyd(["stop", "-p", pidfile]);
      expect(stop.exitCode).toBe(0);
      expect(stop.stderr).toBe(`tinyd: stopped pid ${pid} (${pidfile})\n`);
      expect(alive(pid)).toBe(false);
      expect(existsSync(pidfile)).toBe(false);
      expect(readFileSync(log, "utf8")).toBe(`listening on http://127.0.0.1:${port}/\nstopped\n`);
    });

    test("worker removes its pidfile when done", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "worker.pid");
      const results = join(dir, "results");
      const result = await run([...worker(), "--pidfile", pidfile, "--results", "results", "--steps", "3", "--interval-ms", "100"], dir);

      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);
      expect(isLocked(pidfile)).toBe(true);
      await waitFor(() => !existsSync(pidfile), "the worker to remove its pidfile", 10_000);
      await waitFor(() => !alive(pid), `pid ${pid} to exit`);
      expect(readFileSync(results, "utf8")).toBe(`step 1 done by pid ${pid}\nstep 2 done by pid ${pid}\nstep 3 done by pid ${pid}\n`);
    });

    test("second worker on a locked pidfile is refused", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "worker.pid");
      const results = join(dir, "results");
      expect((await run([...worker(), "--pidfile", pidfile, "--results", results, "--steps", "100", "--interval-ms", "100"], dir)).exitCode).toBe(0);
      const first = readPid(pidfile);

      const second = await run([...worker(), "--pidfile", pidfile, "--results", results, "--steps", "1"], dir);
      expect(second.exitCode).toBe(1);
      expect(second.stderr).toBe(`${form === "source" ? "worker.ts" : "worker"}: already running as pid ${first} (${pidfile})\n`);
      expect(readPid(pidfile)).toBe(first);
      expect(alive(first)).toBe(true);
    });
  });
}

describe("runDaemon", () => {
  test("thrown error is logged, pidfile removed", async () => {
    const dir = tempDir();
    const pidfile = join(dir, "job.pid");
    const log = join(dir, "job.log");
    const script = join(dir, "job.ts");
    writeFileSync(
      script,
      `import { runDaemon } from ${JSON.stringify(join(ROOT, "src", "index.ts"))};
await runDaemon(async () => { await Bun.sleep(100); throw new Error("job failed"); }, { pidfile: ${JSON.stringify(pidfile)}, output: ${JSON.stringify(log)} });
`,
    );
    const result = await run([process.execPath, script], dir);
    expect(result.exitCode).toBe(0);
    const pid = readPid(pidfile);

    await waitFor(() => !existsSync(pidfile), "the job to remove its pidfile");
    await waitFor(() => !alive(pid), `pid ${pid} to exit`);
    expect(readFileSync(log, "utf8")).toContain("Error: job failed");
  });
});
