/**
 * Tests of tinyd/posix against the running process, checked in /proc.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { constants, getrlimit, kill, PosixError, setrlimit, sigprocmask, unixAddress } from "../src/posix/index.ts";
import { ROOT } from "./helpers";

/** Reads a limit's soft and hard values from /proc/self/limits. */
function procLimit(name: string): [string, string] {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((row) => row.startsWith(name))!;
  const fields = line.slice(name.length).trim().split(/\s+/);
  return [fields[0]!, fields[1]!];
}

function blockedSignals(): bigint {
  // The calling thread's mask: bun test runs the tests on the main thread.
  const status = readFileSync("/proc/thread-self/status", "utf8");
  return BigInt(`0x${/^SigBlk:\s*(\w+)/m.exec(status)![1]}`);
}

describe("posix", () => {
  test("getrlimit matches /proc", () => {
    const limit = getrlimit("nofile");
    const [soft, hard] = procLimit("Max open files");
    expect(String(limit.soft)).toBe(soft);
    expect(String(limit.hard)).toBe(hard);
  });

  test("setrlimit lowers the soft limit", () => {
    const before = getrlimit("core");
    try {
      setrlimit("core", { soft: 0, hard: before.hard });
      expect(getrlimit("core").soft).toBe(0);
      expect(procLimit("Max core file size")[0]).toBe("0");
    } finally {
      setrlimit("core", before);
    }
    expect(getrlimit("core")).toEqual(before);
  });

  test("soft limit above hard is EINVAL", () => {
    const limit = getrlimit("nofile");
    let error: unknown = null;
    try {
      setrlimit("nofile", { soft: limit.hard + 1, hard: limit.hard });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PosixError);
    expect((error as PosixError).code).toBe("EINVAL");
    expect(getrlimit("nofile")).toEqual(limit);
  });

  test("sigprocmask blocks and restores", () => {
    const usr1 = 10;
    const bit = 1n << BigInt(usr1 - 1);
    const previous = sigprocmask("block", [usr1]);
    try {
      expect(blockedSignals() & bit).toBe(bit);
    } finally {
      sigprocmask("setmask", previous);
    }
    expect(blockedSignals() & bit).toBe(0n);
    expect(() => sigprocmask("block", [0])).toThrow(RangeError);
  });

  test("kill of a missing pid is ESRCH", () => {
    let error: unknown = null;
    try {
      // Above the kernel's pid_max, so no process can have it.
      kill(0x7ffffff0, 0);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PosixError);
    expect((error as PosixError).code).toBe("ESRCH");
    expect((error as PosixError).errno).toBe(3);
    expect((error as PosixError).message).toBe("kill: No such process");
  });

  test("unixAddress lays out sockaddr_un", () => {
    const address = unixAddress("/run/x");
    expect(address.length).toBe(2 + 6 + 1);
    expect([...address.subarray(0, 2)]).toEqual([constants.AF_UNIX, 0]);
    expect(Buffer.from(address.subarray(2)).toString("latin1")).toBe("/run/x\0");

    const abstract = unixAddress("@tinyd");
    expect(abstract.length).toBe(2 + 6);
    expect(abstract[2]).toBe(0);

    expect(() => unixAddress(`/${"x".repeat(constants.SUN_PATH_BYTES)}`)).toThrow(RangeError);
    expect(() => unixAddress("")).toThrow(RangeError);
  });

  for (const path of ["native", "fallback"] as const) {
    test(`datagram round trip (${path})`, async () => {
      const proc = Bun.spawn([process.execPath, join(ROOT, "test", "fixtures", "posix.ts")], {
        env: { ...process.env, TINYD_LAUNCH: path },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      expect(stderr).toBe("");
      expect(exitCode).toBe(0);
      const result = JSON.parse(stdout);
      expect(result.empty).toBe(null);
      expect(result.received).toBe("READY=1");
      expect(String(result.soft)).toBe(procLimit("Max open files")[0]);
    });
  }
});
