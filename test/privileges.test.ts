/**
 * End-to-end tests of -u, --group, --chroot, --nice, --limit and
 * --env-file: real daemons from build/tinyd, checked in /proc. Most need
 * root and skip with the reason printed otherwise. Each test runs on both
 * launch paths.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { IS_ROOT, killTagged, LAUNCH_METHODS, procEnviron, procStat, procStatus, readPid, TAG, taggedProcesses, tempDir, TINYD, tinyd, waitFor } from "./helpers";

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** Reads an entry with getent(1), a look-up independent of tinyd's own. */
function getentPasswd(name: string): PasswdEntry | null {
  const result = Bun.spawnSync(["getent", "passwd", name]);
  if (result.exitCode !== 0) return null;
  const fields = result.stdout.toString().trim().split(":");
  return { name: fields[0]!, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5]!, shell: fields[6]! };
}

function getentGroupId(name: string): number {
  const result = Bun.spawnSync(["getent", "group", name]);
  if (result.exitCode !== 0) throw new Error(`group ${name} not found`);
  return Number(result.stdout.toString().split(":")[2]);
}

function run(command: string[]): void {
  const result = Bun.spawnSync(command, { stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${command.join(" ")} failed: ${result.stderr.toString()}`);
}

/** Returns the four ids of a Uid: or Gid: line: real, effective, saved and file system. */
function ids(pid: number, field: "Uid" | "Gid"): number[] {
  return procStatus(pid).get(field)!.split(/\s+/).map(Number);
}

function supplementaryGroups(pid: number): number[] {
  const line = procStatus(pid).get("Groups") ?? "";
  return line === "" ? [] : line.split(/\s+/).map(Number).sort((a, b) => a - b);
}

/** Returns the niceness, field 19 of /proc/PID/stat. */
function niceness(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "latin1");
  return Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[16]);
}

/** Returns the soft and hard limit of one row of /proc/PID/limits, such as "Max open files". */
function procLimit(pid: number, row: string): [string, string] {
  const line = readFileSync(`/proc/${pid}/limits`, "latin1")
    .split("\n")
    .find((candidate) => candidate.startsWith(row))!;
  const fields = line.slice(row.length).trim().split(/\s+/);
  return [fields[0]!, fields[1]!];
}

/** Creates a directory that every user can write to, inside a temporary directory that every user can enter. */
function sharedDir(): string {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  const shared = join(dir, "shared");
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  return shared;
}

/** Builds a minimal root with sleep and its shared libraries, as ldd lists them. */
function sleepRoot(): string {
  const root = join(tempDir(), "root");
  const sleep = Bun.which("sleep")!;
  const files = [sleep];
  const ldd = Bun.spawnSync(["ldd", sleep]).stdout.toString();
  for (const match of ldd.matchAll(/(\/\S+) \(0x/g)) files.push(match[1]!);
  for (const file of files) {
    const target = join(root, file === sleep ? "/bin/sleep" : file);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(file, target);
    chmodSync(target, 0o755);
  }
  mkdirSync(join(root, "tmp"));
  return root;
}

const NOBODY = getentPasswd("nobody");
const SUFFIX = Math.random().toString(36).slice(2, 8);
/** A throwaway user with a primary group and two supplementary groups. */
const SCRATCH = { user: `tdu${SUFFIX}`, primary: `tdp${SUFFIX}`, groups: [`tda${SUFFIX}`, `tdb${SUFFIX}`] };
let scratchReady = false;

function skipUnlessRoot(what: string): boolean {
  if (IS_ROOT && NOBODY !== null) return false;
  console.log(`skipped: ${what} needs root and a 'nobody' user`);
  return true;
}

beforeAll(() => {
  if (!IS_ROOT || Bun.which("useradd") === null) return;
  for (const group of [SCRATCH.primary, ...SCRATCH.groups]) run(["groupadd", group]);
  run(["useradd", "-M", "-N", "-d", "/nonexistent", "-s", "/bin/sh", "-g", SCRATCH.primary, "-G", SCRATCH.groups.join(","), SCRATCH.user]);
  scratchReady = true;
});


afterAll(async () => {
  if (!IS_ROOT) return;
  // userdel refuses a user that still runs processes.
  for (const pid of await killTagged()) await waitFor(() => procStat(pid) === null || procStat(pid)!.state === "Z", `pid ${pid} to die`).catch(() => {});
  Bun.spawnSync(["userdel", SCRATCH.user], { stderr: "ignore" });
  for (const group of [SCRATCH.primary, ...SCRATCH.groups]) Bun.spawnSync(["groupdel", group], { stderr: "ignore" });
});

for (const launch of LAUNCH_METHODS) {
  describe(`user (${launch})`, () => {
    test("nobody gets its ids and environment", async () => {
      if (skipUnlessRoot("switching to nobody")) return;
      const pidfile = join(tempDir(), "d.pid");
      const result = await tinyd(["-u", "nobody", "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);

      expect(ids(pid, "Uid")).toEqual([NOBODY!.uid, NOBODY!.uid, NOBODY!.uid, NOBODY!.uid]);
      expect(ids(pid, "Gid")).toEqual([NOBODY!.gid, NOBODY!.gid, NOBODY!.gid, NOBODY!.gid]);
      expect(supplementaryGroups(pid)).toEqual([]);
      expect(procStatus(pid).get("CapPrm")).toMatch(/^0+$/);
      expect(procStatus(pid).get("CapEff")).toMatch(/^0+$/);

      const env = procEnviron(pid);
      expect(env.get("HOME")).toBe(NOBODY!.home);
      expect(env.get("USER")).toBe("nobody");
      expect(env.get("LOGNAME")).toBe("nobody");
      expect(env.get("SHELL")).toBe(NOBODY!.shell);
    });

    test("root's groups are dropped", async () => {
      if (skipUnlessRoot("switching to nobody")) return;
      const pidfile = join(tempDir(), "d.pid");
      // setpriv gives the launcher supplementary groups of its own, which the daemon must not keep.
      const result = await tinyd(["-u", "nobody", "-p", pidfile, "--", "sleep", "300"], { launch, prefix: ["setpriv", "--groups=4,27", "--"] });
      expect(result.exitCode).toBe(0);
      expect(supplementaryGroups(readPid(pidfile))).toEqual([]);
    });

    test("daemon creates files as the user", async () => {
      if (skipUnlessRoot("switching to nobody")) return;
      const shared = sharedDir();
      const made = join(shared, "made");
      const pidfile = join(tempDir(), "d.pid");
      const script = `echo hello > "$0"; exec sleep 300`;
      const result = await tinyd(["-u", "nobody", "-p", pidfile, "--", "sh", "-c", script, made], { launch });
      expect(result.exitCode).toBe(0);
      await waitFor(() => existsSync(made) && readFileSync(made, "utf8") === "hello\n", "the daemon's file");

      const stat = statSync(made);
      expect(stat.uid).toBe(NOBODY!.uid);
      expect(stat.gid).toBe(NOBODY!.gid);
      expect(stat.mode & 0o777).toBe(0o644);
    });

    test("supplementary groups are the user's", async () => {
      if (skipUnlessRoot("a throwaway user") || !scratchReady) return;
      const pidfile = join(tempDir(), "d.pid");
      const result = await tinyd(["-u", SCRATCH.user, "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);

      const primary = getentGroupId(SCRATCH.primary);
      const expected = SCRATCH.groups.map(getentGroupId).sort((a, b) => a - b);
      expect(ids(pid, "Gid")).toEqual([primary, primary, primary, primary]);
      expect(supplementaryGroups(pid)).toEqual(expected);
      // id(1) lists the same groups through its own look-up, with the primary group.
      const fromId = Bun.spawnSync(["id", "-G", SCRATCH.user]).stdout.toString().trim().split(" ").map(Number);
      expect(fromId.filter((gid) => gid !== primary).sort((a, b) => a - b)).toEqual(expected);
    });

    test("USER:GROUP keeps only GROUP", async () => {
      if (skipUnlessRoot("a throwaway user") || !scratchReady) return;
      const pidfile = join(tempDir(), "d.pid");
      const group = SCRATCH.groups[1]!;
      const result = await tinyd(["-u", `${SCRATCH.user}:${group}`, "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);

      const gid = getentGroupId(group);
      const uid = getentPasswd(SCRATCH.user)!.uid;
      expect(ids(pid, "Uid")).toEqual([uid, uid, uid, uid]);
      expect(ids(pid, "Gid")).toEqual([gid, gid, gid, gid]);
      expect(supplementaryGroups(pid)).toEqual([gid]);
    });

    test("group option alone keeps the user", async () => {
      if (skipUnlessRoot("switching groups") || !scratchReady) return;
      const pidfile = join(tempDir(), "d.pid");
      const group = SCRATCH.groups[0]!;
      const result = await tinyd(["--group", group, "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);

      const gid = getentGroupId(group);
      expect(ids(pid, "Uid")).toEqual([0, 0, 0, 0]);
      expect(ids(pid, "Gid")).toEqual([gid, gid, gid, gid]);
      expect(supplementaryGroups(pid)).toEqual([gid]);
      expect(procEnviron(pid).get("HOME")).toBe(process.env.HOME!);
    });

    test("daemon cannot regain root", async () => {
      if (skipUnlessRoot("switching to nobody")) return;
      // The system's python3, because the user nobody cannot run a copy under /root.
      if (!existsSync("/usr/bin/python3")) {
        console.log("skipped: needs /usr/bin/python3 to call setuid(0) from the daemon");
        return;
      }
      const shared = sharedDir();
      const out = join(shared, "attempts");
      const script = [
        "import os, sys, time",
        "results = []",
        "for name, call in [('setuid', lambda: os.setuid(0)), ('seteuid', lambda: os.seteuid(0)), ('setgid', lambda: os.setgid(0)), ('setgroups', lambda: os.setgroups([0]))]:",
        "    try:",
        "        call()",
        "        results.append(name + ' succeeded')",
        "    except PermissionError:",
        "        results.append(name + ' EPERM')",
        "open(sys.argv[1], 'w').write('\\n'.join(results) + '\\n')",
        "time.sleep(300)",
      ].join("\n");
      const pidfile = join(tempDir(), "d.pid");
      const result = await tinyd(["-u", "nobody", "-p", pidfile, "--", "/usr/bin/python3", "-c", script, out], { launch });
      expect(result.exitCode).toBe(0);
      await waitFor(() => existsSync(out) && readFileSync(out, "utf8").endsWith("\n"), "the daemon's attempts");

      expect(readFileSync(out, "utf8")).toBe("setuid EPERM\nseteuid EPERM\nsetgid EPERM\nsetgroups EPERM\n");
      expect(ids(readPid(pidfile), "Uid")).toEqual([NOBODY!.uid, NOBODY!.uid, NOBODY!.uid, NOBODY!.uid]);
    });

    test("keep-env keeps the launcher's HOME", async () => {
      if (skipUnlessRoot("switching to nobody")) return;
      const pidfile = join(tempDir(), "d.pid");
      const env = { HOME: "/launcher-home", USER: "launcher", LOGNAME: "launcher", SHELL: "/bin/launcher" };
      const result = await tinyd(["-u", "nobody", "--keep-env", "-p", pidfile, "--", "sleep", "300"], { launch, env });
      expect(result.exitCode).toBe(0);
      const daemonEnv = procEnviron(readPid(pidfile));

      expect(daemonEnv.get("HOME")).toBe("/launcher-home");
      expect(daemonEnv.get("USER")).toBe("launcher");
      expect(daemonEnv.get("LOGNAME")).toBe("launcher");
      expect(daemonEnv.get("SHELL")).toBe("/bin/launcher");
    });

    test("created log file belongs to the user", async () => {
      if (skipUnlessRoot("switching to nobody")) return;
      const dir = tempDir();
      const fresh = join(dir, "fresh.log");
      const existing = join(dir, "existing.log");
      writeFileSync(existing, "", { mode: 0o600 });

      expect((await tinyd(["-u", "nobody", "-o", fresh, "--", "sh", "-c", "echo hi; sleep 300"], { launch })).exitCode).toBe(0);
      expect((await tinyd(["-u", "nobody", "-o", existing, "--", "sleep", "300"], { launch })).exitCode).toBe(0);

      const freshStat = statSync(fresh);
      expect(freshStat.uid).toBe(NOBODY!.uid);
      expect(freshStat.gid).toBe(NOBODY!.gid);
      expect(freshStat.mode & 0o777).toBe(0o640);
      await waitFor(() => readFileSync(fresh, "utf8") === "hi\n", "the daemon's output");
      expect(statSync(existing).uid).toBe(0);
      expect(statSync(existing).mode & 0o777).toBe(0o600);
    });

    test("unknown user or group exits 67", async () => {
      const dir = tempDir();
      const pidfile = join(dir, "d.pid");
      const cases: [string[], string][] = [
        [["-u", `nouser${SUFFIX}`], `tinyd: unknown user 'nouser${SUFFIX}': the user database has no such user. Check the name with 'getent passwd nouser${SUFFIX}'\n`],
        [["-u", `root:nogroup${SUFFIX}`], `tinyd: unknown group 'nogroup${SUFFIX}': the group database has no such group. Check the name with 'getent group nogroup${SUFFIX}'\n`],
        [["--group", `nogroup${SUFFIX}`], `tinyd: unknown group 'nogroup${SUFFIX}': the group database has no such group. Check the name with 'getent group nogroup${SUFFIX}'\n`],
      ];
      for (const [options, message] of cases) {
        const result = await tinyd([...options, "-p", pidfile, "--", "sleep", "300"], { launch });
        expect(result.stderr).toBe(message);
        expect(result.exitCode).toBe(67);
      }
      expect(existsSync(pidfile)).toBe(false);
      expect(taggedProcesses().filter((pid) => procStat(pid)?.comm === "sleep")).toEqual([]);
    });

    test("uid without entry needs a group", async () => {
      if (skipUnlessRoot("switching to a bare uid")) return;
      let uid = 4_000_000;
      while (getentPasswd(String(uid)) !== null) uid += 1;

      const bare = await tinyd(["-u", String(uid), "--", "sleep", "300"], { launch });
      expect(bare.stderr).toBe(`tinyd: user id ${uid} has no entry in the user database, so it has no primary group: give one, as in -u ${uid}:GROUP\n`);
      expect(bare.exitCode).toBe(67);

      const pidfile = join(tempDir(), "d.pid");
      const withGroup = await tinyd(["-u", `${uid}:${NOBODY!.gid}`, "-p", pidfile, "--", "sleep", "300"], { launch, env: { HOME: "/root" } });
      expect(withGroup.exitCode).toBe(0);
      const pid = readPid(pidfile);
      expect(ids(pid, "Uid")).toEqual([uid, uid, uid, uid]);
      expect(supplementaryGroups(pid)).toEqual([NOBODY!.gid]);
      // The launcher's HOME names another user, so the daemon gets none.
      expect(procEnviron(pid).has("HOME")).toBe(false);
    });

    test("user switch without root exits 77", async () => {
      if (skipUnlessRoot("starting tinyd as nobody")) return;
      const shared = sharedDir();
      const asNobody = ["setpriv", `--reuid=${NOBODY!.uid}`, `--regid=${NOBODY!.gid}`, "--clear-groups", "--"];

      const root = await tinyd(["-u", "root", "-p", join(shared, "root.pid"), "--", "sleep", "300"], { launch, prefix: asNobody });
      expect(root.stderr).toBe(`tinyd: cannot run as user 'root': only root can switch users, and tinyd runs as uid ${NOBODY!.uid}. Run tinyd as root, or leave out -u\n`);
      expect(root.exitCode).toBe(77);
      expect(existsSync(join(shared, "root.pid"))).toBe(false);

      // Its own user needs no privilege.
      const self = await tinyd(["-u", "nobody", "-p", join(shared, "self.pid"), "--", "sleep", "300"], { launch, prefix: asNobody });
      expect(self.stderr).toBe("");
      expect(self.exitCode).toBe(0);
      expect(ids(readPid(join(shared, "self.pid")), "Uid")[0]).toBe(NOBODY!.uid);
    });
  });

  describe(`limits and nice (${launch})`, () => {
    test("root-only settings exit 77 without root", async () => {
      if (skipUnlessRoot("starting tinyd as nobody")) return;
      const shared = sharedDir();
      const pidfile = join(shared, "d.pid");
      const asNobody = ["setpriv", `--reuid=${NOBODY!.uid}`, `--regid=${NOBODY!.gid}`, "--clear-groups", "--"];

      // Lowering the niceness fails in the launch itself, after the checks.
      const nice = await tinyd(["--nice", "-5", "-p", pidfile, "--", "sleep", "300"], { launch, prefix: asNobody });
      expect(nice.stderr).toBe("tinyd: cannot set niceness -5: Permission denied. Only root can lower the niceness\n");
      expect(nice.exitCode).toBe(77);

      const limit = await tinyd(["--limit", "nofile=64:256", "-p", pidfile, "--", "sleep", "300"], { launch, prefix: ["prlimit", "--nofile=64:128", ...asNobody] });
      expect(limit.stderr).toBe("tinyd: cannot set limit nofile=64:256: the hard limit is 128 and only root can raise it. Run tinyd as root or stay within 128\n");
      expect(limit.exitCode).toBe(77);

      const chroot = await tinyd(["--chroot", shared, "-p", pidfile, "--", "sleep", "300"], { launch, prefix: asNobody });
      expect(chroot.stderr).toBe(`tinyd: cannot chroot to ${shared}: only root can. Run tinyd as root, or leave out --chroot\n`);
      expect(chroot.exitCode).toBe(77);
      expect(existsSync(pidfile)).toBe(false);
      expect(taggedProcesses().filter((pid) => procStat(pid)?.comm === "sleep")).toEqual([]);
    });

    test("limits and niceness reach the daemon", async () => {
      if (skipUnlessRoot("raising hard limits")) return;
      const pidfile = join(tempDir(), "d.pid");
      const result = await tinyd(
        ["--nice", "7", "--limit", "nofile=1000:2000", "--limit", "as=1G:unlimited", "--limit", "cpu=3600", "--core", "-u", "nobody", "-p", pidfile, "--", "sleep", "300"],
        { launch },
      );
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);

      expect(niceness(pid)).toBe(7);
      expect(procLimit(pid, "Max open files")).toEqual(["1000", "2000"]);
      expect(procLimit(pid, "Max address space")).toEqual([String(1024 ** 3), "unlimited"]);
      expect(procLimit(pid, "Max cpu time")).toEqual(["3600", "3600"]);
      expect(procLimit(pid, "Max core file size")).toEqual(["unlimited", "unlimited"]);
    });

    test("no-core disables core dumps", async () => {
      const pidfile = join(tempDir(), "d.pid");
      const result = await tinyd(["--no-core", "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.exitCode).toBe(0);
      expect(procLimit(readPid(pidfile), "Max core file size")).toEqual(["0", "0"]);
    });

    test("invalid limits exit 64", async () => {
      const pidfile = join(tempDir(), "d.pid");
      const cases: [string[], string][] = [
        [["--limit", "files=10"], "tinyd: invalid limit 'files=10': unknown resource 'files'. Choose one of as, core, cpu, fsize, memlock, nofile, nproc, stack\n"],
        [["--limit", "nofile"], "tinyd: invalid limit 'nofile': expected NAME=SOFT[:HARD], such as nofile=4096 or core=unlimited\n"],
        [["--limit", "nofile=many"], "tinyd: invalid limit 'nofile=many': 'many' is not a whole number or 'unlimited'\n"],
        [["--limit", "nofile=1K"], "tinyd: invalid limit 'nofile=1K': '1K' is not a whole number or 'unlimited'\n"],
        [["--limit", "nofile=10:5"], "tinyd: invalid limit 'nofile=10:5': the soft limit is above the hard limit\n"],
        [["--limit", "nofile=unlimited:5"], "tinyd: invalid limit 'nofile=unlimited:5': the soft limit is above the hard limit\n"],
        [["--limit", "nofile=1:2:3"], "tinyd: invalid limit 'nofile=1:2:3': expected nofile=SOFT or nofile=SOFT:HARD\n"],
        [["--limit", "as=-1"], "tinyd: invalid limit 'as=-1': '-1' is not a number of bytes, with an optional K, M, G or T suffix, or 'unlimited'\n"],
        [["--core", "--no-core"], "tinyd: --core and --no-core contradict each other: give one of them\n"],
        [["--core", "--limit", "core=0"], "tinyd: --core and --limit core=… contradict each other: give one of them\n"],
        [["--nice", "20"], "tinyd: invalid --nice '20': expected a niceness from -20 to 19\n"],
        [["--nice", "x"], "tinyd: invalid --nice 'x': expected a niceness from -20 to 19\n"],
      ];
      const maxOpenFiles = Number(readFileSync("/proc/sys/fs/nr_open", "utf8"));
      cases.push([["--limit", "nofile=unlimited"], `tinyd: invalid limit 'nofile=unlimited': Linux caps nofile at fs.nr_open, ${maxOpenFiles} here. Give at most ${maxOpenFiles}\n`]);
      for (const [options, message] of cases) {
        const result = await tinyd([...options, "-p", pidfile, "--", "sleep", "300"], { launch });
        expect(result.stderr).toBe(message);
        expect(result.exitCode).toBe(64);
      }
      expect(existsSync(pidfile)).toBe(false);
    });
  });

  describe(`chroot (${launch})`, () => {
    test("daemon runs inside the root", async () => {
      if (skipUnlessRoot("chroot") || Bun.which("ldd") === null) return;
      const root = sleepRoot();
      const pidfile = join(tempDir(), "d.pid");
      const result = await tinyd(["--chroot", root, "--cwd", "/tmp", "-u", "nobody", "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const pid = readPid(pidfile);

      expect(readlinkSync(`/proc/${pid}/root`)).toBe(root);
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(join(root, "tmp"));
      expect(readlinkSync(`/proc/${pid}/exe`)).toBe(join(root, "bin", "sleep"));
      expect(ids(pid, "Uid")[0]).toBe(NOBODY!.uid);
    });

    test("missing command exits 127 naming its path", async () => {
      if (skipUnlessRoot("chroot") || Bun.which("ldd") === null) return;
      const root = sleepRoot();
      const pidfile = join(tempDir(), "d.pid");

      const missing = await tinyd(["--chroot", root, "-p", pidfile, "--", "/bin/nope"], { launch });
      expect(missing.stderr).toBe(`tinyd: cannot run '/bin/nope' in chroot ${root}: No such file or directory (/bin/nope inside the root)\n`);
      expect(missing.exitCode).toBe(127);

      // true exists on the host but not inside the root.
      const hostOnly = await tinyd(["--chroot", root, "-p", pidfile, "--", "true"], { launch });
      expect(hostOnly.stderr).toStartWith(`tinyd: cannot run 'true' in chroot ${root}: command not found in PATH`);
      expect(hostOnly.exitCode).toBe(127);
      expect(existsSync(pidfile)).toBe(false);
    });

    test("exec failure inside the root exits 127", async () => {
      if (skipUnlessRoot("chroot")) return;
      // sleep without its dynamic loader passes every check before the launch and fails in execve.
      const root = join(tempDir(), "root");
      mkdirSync(join(root, "bin"), { recursive: true });
      copyFileSync(Bun.which("sleep")!, join(root, "bin", "sleep"));
      chmodSync(join(root, "bin", "sleep"), 0o755);
      const pidfile = join(tempDir(), "d.pid");

      const result = await tinyd(["--chroot", root, "-p", pidfile, "--", "/bin/sleep", "300"], { launch });
      expect(result.stderr).toBe(
        `tinyd: cannot run '/bin/sleep' in chroot ${root}: No such file or directory (/bin/sleep inside the root). A script's interpreter and a program's dynamic loader and libraries must be inside the root too\n`,
      );
      expect(result.exitCode).toBe(127);
      expect(existsSync(pidfile)).toBe(false);
    });

    test("chroot rejects no-chdir and a missing root", async () => {
      const dir = tempDir();
      const withNoChdir = await tinyd(["--chroot", dir, "--no-chdir", "--", "sleep", "300"], { launch });
      expect(withNoChdir.stderr).toBe("tinyd: --chroot and --no-chdir cannot be combined: a working directory outside the new root is a way out of it\n");
      expect(withNoChdir.exitCode).toBe(64);

      const missing = await tinyd(["--chroot", join(dir, "missing"), "--", "sleep", "300"], { launch });
      expect(missing.stderr).toBe(`tinyd: cannot chroot to ${join(dir, "missing")}: no such directory. Create the root or pass another --chroot\n`);
      expect(missing.exitCode).toBe(66);
    });
  });

  describe(`env file (${launch})`, () => {
    test("env file sets variables before --env", async () => {
      const dir = tempDir();
      const file = join(dir, "app.env");
      writeFileSync(file, ["# settings", "", "PLAIN=one two", "QUOTED=' padded '", 'DOUBLE="x=y"', "export EXPORTED=yes", "  INDENTED = spaced  ", "OVERRIDDEN=file", "EMPTY=", ""].join("\n"));
      const pidfile = join(dir, "d.pid");
      const result = await tinyd(["--env-file", file, "--env", "OVERRIDDEN=option", "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const env = procEnviron(readPid(pidfile));

      expect(env.get("PLAIN")).toBe("one two");
      expect(env.get("QUOTED")).toBe(" padded ");
      expect(env.get("DOUBLE")).toBe("x=y");
      expect(env.get("EXPORTED")).toBe("yes");
      expect(env.get("INDENTED")).toBe("spaced");
      expect(env.get("OVERRIDDEN")).toBe("option");
      expect(env.get("EMPTY")).toBe("");
    });

    test("bad env file exits 64 or 66", async () => {
      const dir = tempDir();
      const bad = join(dir, "bad.env");
      writeFileSync(bad, "GOOD=1\nnot a variable\n");
      const pidfile = join(dir, "d.pid");

      const invalid = await tinyd(["--env-file", bad, "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(invalid.stderr).toBe(`tinyd: invalid line 2 in env file ${bad}: expected KEY=VALUE with a name of letters, digits and '_'\n`);
      expect(invalid.exitCode).toBe(64);

      const missing = await tinyd(["--env-file", join(dir, "missing.env"), "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(missing.stderr).toBe(`tinyd: cannot read env file ${join(dir, "missing.env")}: no such file\n`);
      expect(missing.exitCode).toBe(66);
      expect(existsSync(pidfile)).toBe(false);
    });

    test("env file overrides the user's HOME", async () => {
      if (skipUnlessRoot("switching to nobody")) return;
      const dir = tempDir();
      const file = join(dir, "app.env");
      writeFileSync(file, "HOME=/srv/app\n");
      const pidfile = join(dir, "d.pid");
      const result = await tinyd(["-u", "nobody", "--env-file", file, "-p", pidfile, "--", "sleep", "300"], { launch });
      expect(result.exitCode).toBe(0);
      const env = procEnviron(readPid(pidfile));
      expect(env.get("HOME")).toBe("/srv/app");
      expect(env.get("USER")).toBe("nobody");
    });
  });
}

describe("user (native only)", () => {
  test("foreground switches user in place", async () => {
    if (skipUnlessRoot("switching to nobody")) return;
    const pidfile = join(tempDir(), "d.pid");
    const proc = Bun.spawn([TINYD, "-F", "-u", "nobody", "-p", pidfile, "--", "sleep", "300"], {
      env: { ...process.env, TINYD_TEST_TAG: TAG },
      stdio: ["ignore", "ignore", "ignore"],
    });
    try {
      await waitFor(() => procStat(proc.pid)?.comm === "sleep", "the exec");
      expect(readPid(pidfile)).toBe(proc.pid);
      expect(ids(proc.pid, "Uid")).toEqual([NOBODY!.uid, NOBODY!.uid, NOBODY!.uid, NOBODY!.uid]);
      expect(supplementaryGroups(proc.pid)).toEqual([]);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
  });
});
