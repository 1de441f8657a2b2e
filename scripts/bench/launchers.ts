/**
 * The launchers the start-time benchmark compares: tinyd, its peers, and the
 * hello-world floor. Each one starts `sleep 600` as a daemon.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRunning, readPidfile, stopProcesses } from "./processes.ts";
import { commandOutput, compileFloor, copyTinyd, debianVersion, findExecutable, findLibslackDaemon, type MissingTool, notInstalled } from "./tools.ts";

/** One timed invocation of a launcher, with its own directory and pidfile path. */
export interface Run {
  dir: string;
  pidfile: string;
  /** A name unique within the benchmark, for tools that name their daemons (pm2). */
  name: string;
  env: Record<string, string>;
}

/** The source of the pid of the daemon a launcher started. */
export type DaemonLookup =
  | "pidfile" // the pidfile
  | "environment" // a search of /proc for the run's environment entry, because the tool writes no pidfile
  | "none"; // no daemon: the hello-world floor

export interface Launcher {
  /** A stable key: "floor", "tinyd", "pm2-later" and so on. */
  id: string;
  label: string;
  version: string;
  /** The command line as the report shows it, with PIDFILE for the pidfile path. */
  display: string;
  /** A remark the report adds after the command line. */
  note?: string;
  daemon: DaemonLookup;
  argv(run: Run): string[];
  /** Returns the path of the pidfile the run wrote, where it differs from run.pidfile. */
  pidfilePath?(run: Run): string | undefined;
  /** Environment entries the launcher needs on top of the benchmark's. */
  environment?: Record<string, string>;
  /** Prepares a run. Not timed. */
  prepare?(): void;
  /** Stops the run's daemon through the tool itself. Not timed, and the benchmark kills the daemon by pid afterwards. */
  stop?(run: Run): void;
}

export type MissingLauncher = MissingTool;

/** Paths and tools every launcher definition needs. */
export interface LauncherSetup {
  root: string;
  workDir: string;
  /** The directory for logs of the benchmark's own tool runs (npm install, bun build, pm2 kill). */
  logDir: string;
}

/**
 * Returns tinyd's launchers: the start under test, the same start on the
 * fallback launch path, and `tinyd --version`, which starts the binary and
 * loads its modules but launches nothing. They run a copy of source in
 * setup.workDir, so a rebuild of build/tinyd during the benchmark changes
 * nothing. Throws when source does not exist.
 */
export function tinydLaunchers(setup: LauncherSetup, source: string): Launcher[] {
  const { binary, version } = copyTinyd(source, setup.workDir);
  const start = (run: Run) => [binary, "-p", run.pidfile, "--", "sleep", "600"];
  return [
    {
      id: "tinyd",
      label: "tinyd",
      version,
      display: "build/tinyd -p PIDFILE -- sleep 600",
      daemon: "pidfile",
      argv: start,
    },
    {
      id: "tinyd-fallback",
      label: "tinyd, fallback launch",
      version,
      display: "TINYD_LAUNCH=fallback build/tinyd -p PIDFILE -- sleep 600",
      note: "the launch path without bun:ffi, which runs the binary a second time as the session leader",
      daemon: "pidfile",
      environment: { TINYD_LAUNCH: "fallback" },
      argv: start,
    },
    {
      id: "tinyd-version",
      label: "tinyd --version",
      version,
      display: "build/tinyd --version",
      note: "starts the binary and loads its modules, but launches nothing",
      daemon: "none",
      argv: () => [binary, "--version"],
    },
  ];
}

/**
 * Builds the hello-world floor with the compile flags of scripts/build.ts and
 * returns it as a launcher, or a MissingLauncher when the build fails.
 */
export function floorLauncher(setup: LauncherSetup): Launcher | MissingLauncher {
  const label = "hello-world floor";
  const floor = compileFloor(join(setup.workDir, "floor"), "hello", 'console.log("hello, world");\n');
  if ("failure" in floor) return { label, reason: `not built (${floor.failure})` };
  return {
    id: "floor",
    label,
    version: `Bun ${Bun.version}`,
    display: "FLOORDIR/hello",
    note: 'built by the benchmark from `console.log("hello, world")` with the compile flags of scripts/build.ts, and timed from spawn to exit',
    daemon: "none",
    argv: () => [floor.binary],
  };
}

/** Returns the Debian peers that are installed, and a MissingLauncher for each one that is not. */
export function debianLaunchers(): (Launcher | MissingLauncher)[] {
  const launchers: (Launcher | MissingLauncher)[] = [];

  const daemonize = findExecutable("daemonize");
  launchers.push(
    daemonize === undefined
      ? notInstalled("daemonize", "daemonize")
      : {
          id: "daemonize",
          label: "daemonize",
          version: debianVersion("daemonize"),
          display: "daemonize -p PIDFILE /bin/sleep 600",
          daemon: "pidfile",
          argv: (run) => [daemonize, "-p", run.pidfile, "/bin/sleep", "600"],
        },
  );

  const daemon = findLibslackDaemon();
  launchers.push(
    daemon === undefined
      ? notInstalled("daemon (libslack)", "daemon")
      : {
          id: "daemon",
          label: "daemon (libslack)",
          version: debianVersion("daemon"),
          display: "daemon --pidfile PIDFILE -- sleep 600",
          daemon: "pidfile",
          argv: (run) => [daemon, "--pidfile", run.pidfile, "--", "sleep", "600"],
        },
  );

  const startStopDaemon = findExecutable("start-stop-daemon");
  launchers.push(
    startStopDaemon === undefined
      ? notInstalled("start-stop-daemon", "dpkg")
      : {
          id: "start-stop-daemon",
          label: "start-stop-daemon",
          version: debianVersion("dpkg"),
          display: "start-stop-daemon --start --background --make-pidfile --pidfile PIDFILE --exec /bin/sleep -- 600",
          daemon: "pidfile",
          argv: (run) => [
            startStopDaemon,
            "--start",
            "--background",
            "--make-pidfile",
            "--pidfile",
            run.pidfile,
            "--exec",
            "/bin/sleep",
            "--",
            "600",
          ],
        },
  );

  const setsid = findExecutable("setsid");
  launchers.push(
    setsid === undefined
      ? notInstalled("setsid -f", "util-linux")
      : {
          id: "setsid",
          label: "setsid -f",
          version: debianVersion("util-linux"),
          display: "setsid -f sleep 600",
          note: "writes no pidfile, so the benchmark finds the daemon by its environment",
          daemon: "environment",
          argv: () => [setsid, "-f", "sleep", "600"],
        },
  );

  return launchers;
}

/**
 * A pm2 installed by the benchmark into its temporary directory, with a
 * private PM2_HOME, so it never touches the user's ~/.pm2 or the project's
 * package.json.
 */
export class Pm2 {
  readonly binary: string;
  readonly home: string;
  readonly version: string;

  private constructor(binary: string, home: string, version: string) {
    this.binary = binary;
    this.home = home;
    this.version = version;
  }

  /** Installs pm2 with npm into setup.workDir, or returns a MissingLauncher reason when that fails. */
  static install(setup: LauncherSetup): Pm2 | string {
    const npm = findExecutable("npm");
    if (npm === undefined) return "not installed (npm not found; install Node.js and npm)";

    const prefix = join(setup.workDir, "pm2");
    const home = join(setup.workDir, "pm2-home");
    mkdirSync(prefix);
    mkdirSync(home);

    const logPath = join(setup.logDir, "npm-install-pm2.log");
    const install = Bun.spawnSync([npm, "install", "--prefix", prefix, "--no-audit", "--no-fund", "pm2"], {
      cwd: prefix,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 300_000,
    });
    writeFileSync(logPath, install.stdout.toString() + install.stderr.toString());
    if (install.exitCode !== 0) {
      const message = install.stderr.toString().trim().split("\n").at(-1) ?? "";
      return `not installed (npm install --prefix ${prefix} pm2 exited with status ${install.exitCode}: ${message})`;
    }

    // Read the version from package.json: `pm2 --version` would start a pm2
    // daemon under the default PM2_HOME.
    const packageJson = JSON.parse(readFileSync(join(prefix, "node_modules", "pm2", "package.json"), "utf8"));
    const node = commandOutput(["node", "--version"]) ?? "unknown";
    return new Pm2(join(prefix, "node_modules", ".bin", "pm2"), home, `${packageJson.version} (Node.js ${node})`);
  }

  /** Returns the pid of the running pm2 daemon, from PM2_HOME/pm2.pid. */
  daemonPid(): number | undefined {
    const pid = readPidfile(join(this.home, "pm2.pid"));
    return pid !== undefined && isRunning(pid) ? pid : undefined;
  }

  /** Runs a pm2 command that is not timed, and appends its output to the log at logPath. */
  private command(args: string[], logPath: string): void {
    const result = Bun.spawnSync([this.binary, ...args], {
      env: { ...process.env, PM2_HOME: this.home },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 30_000,
    });
    writeFileSync(logPath, result.stdout.toString() + result.stderr.toString(), { flag: "a" });
  }

  /**
   * Stops the pm2 daemon with `pm2 kill` and then by pid if it is still
   * running. Leaves the applications to the caller's kill by pid.
   */
  kill(logPath: string): void {
    const pid = this.daemonPid();
    if (pid === undefined) return;
    this.command(["kill"], logPath);
    stopProcesses([pid]);
  }

  /**
   * Returns the two pm2 launchers: `pm2 start` while no pm2 daemon runs (so
   * it starts one), and `pm2 start` with the daemon already running.
   */
  launchers(setup: LauncherSetup): Launcher[] {
    const display = "pm2 start /bin/sleep --name NAME --no-autorestart --pid PIDFILE -- 600";
    const note = "pm2 inserts the application id into the pidfile name (pm2-ID.pid), and PM2_HOME is a private temporary directory";
    const start = (run: Run) => [
      this.binary,
      "start",
      "/bin/sleep",
      "--name",
      run.name,
      "--no-autorestart",
      "--pid",
      join(run.dir, "pm2.pid"),
      "--",
      "600",
    ];
    // pm2 inserts the application id into the name given with --pid:
    // DIR/pm2.pid becomes DIR/pm2-ID.pid.
    const pidfilePath = (run: Run) => {
      const name = readdirSync(run.dir).find((entry) => /^pm2-\d+\.pid$/.test(entry));
      return name === undefined ? undefined : join(run.dir, name);
    };
    const stop = (run: Run) => this.command(["delete", run.name], join(run.dir, "pm2-delete.log"));
    const environment = { PM2_HOME: this.home };

    const shared = { version: this.version, display, note, daemon: "pidfile" as const, argv: start, pidfilePath, environment, stop };

    return [
      {
        id: "pm2-first",
        label: "pm2 start, first (starts the pm2 daemon)",
        ...shared,
        prepare: () => this.kill(join(setup.logDir, "pm2-kill.log")),
      },
      { id: "pm2-later", label: "pm2 start, later (pm2 daemon running)", ...shared },
    ];
  }
}
