/**
 * The command-line interface as data: every subcommand with its options, in
 * citty's declaration format. The parser and the help text are both
 * generated from these objects.
 */
import type { ArgsDef } from "citty";

/**
 * citty's argument declaration plus `multiple` for options that may repeat,
 * such as --env, and `optionalValue` for a string option whose value may only
 * be attached (--wait-ready or --wait-ready=30); alone it parses as true.
 */
export type OptionDef = ArgsDef[string] & { multiple?: boolean; hidden?: boolean; optionalValue?: boolean };
export type OptionDefs = Record<string, OptionDef>;

export interface SubcommandDef {
  name: string;
  description: string;
  /** Usage line after the program name. */
  usage: string;
  args: OptionDefs;
  /** Names of positional arguments, in order. */
  positionals: string[];
  /** Takes a command after its positionals: the first word that is not an option, or the words after --. */
  takesCommand?: boolean;
}

const help: OptionDefs = {
  help: { type: "boolean", alias: ["h"], description: "Show this help and exit" },
};

const pidfileOption: OptionDef = {
  type: "string",
  alias: ["p"],
  valueHint: "FILE",
  description: "Pidfile of the daemon (locked while it runs)",
};

export const startOptions: OptionDefs = {
  pidfile: {
    ...pidfileOption,
    description: "Write the daemon's pid to FILE and hold an exclusive lock on it while the daemon runs; a symbolic link is rejected",
  },
  cwd: { type: "string", valueHint: "DIR", description: "Change the daemon's working directory to DIR (default: /)" },
  "no-chdir": { type: "boolean", description: "Keep the current working directory instead of changing to /" },
  c: { type: "boolean", description: "Change the working directory to / (daemon(8) compatibility; the default)" },
  f: { type: "boolean", description: "Redirect stdin, stdout and stderr to /dev/null (daemon(8) compatibility; the default)" },
  output: {
    type: "string",
    alias: ["o"],
    valueHint: "FILE",
    description: "Append the daemon's stdout and stderr to FILE, created with mode 0640",
  },
  stdout: { type: "string", valueHint: "FILE", description: "Append the daemon's stdout to FILE, created with mode 0640" },
  stderr: { type: "string", valueHint: "FILE", description: "Append the daemon's stderr to FILE, created with mode 0640" },
  umask: { type: "string", valueHint: "OCTAL", description: "Set the daemon's file mode creation mask (default: 022)" },
  env: { type: "string", valueHint: "KEY=VALUE", multiple: true, description: "Set an environment variable for the daemon; repeatable" },
  "clear-env": { type: "boolean", description: "Start the daemon's environment from PATH alone, plus --env" },
  "no-close": { type: "boolean", description: "Keep inherited file descriptors and stdio instead of closing them" },
  "keep-signals": { type: "boolean", description: "Keep ignored signals and the signal mask instead of resetting them" },
  foreground: {
    type: "boolean",
    alias: ["F"],
    description: "Do every step but the detach, and run the command in place of tinyd (for systemd, containers, debugging); stdio stays unless redirected",
  },
  // Supervision: any option of this group runs the command under a supervisor.
  restart: { type: "boolean", alias: ["r"], description: "Supervise the command and restart it when it exits" },
  "restart-delay": {
    type: "string",
    alias: ["R"],
    valueHint: "SECONDS",
    description: "First restart delay; later ones double up to --restart-max-delay (default: 1; implies -r)",
  },
  "restart-max-delay": { type: "string", valueHint: "SECONDS", description: "Ceiling of the restart backoff (default: 60)" },
  "min-uptime": { type: "string", valueHint: "SECONDS", description: "Uptime after which the backoff starts over (default: 10)" },
  "restart-on": { type: "string", valueHint: "always|failure", description: "Restart after any exit, or only after a failure (default: always)" },
  "no-restart-exit": {
    type: "string",
    valueHint: "CODE[,CODE...]",
    multiple: true,
    description: "Exit codes that end the service instead of restarting it; repeatable",
  },
  "max-restarts": { type: "string", valueHint: "N", description: "Give up after N restarts within --restart-window" },
  "restart-window": { type: "string", valueHint: "SECONDS", description: "Window of --max-restarts (default: 60)" },
  C: { type: "string", valueHint: "COUNT", description: "Give up after COUNT restarts in total (daemon(8) compatibility; implies -r)" },
  "supervisor-pidfile": {
    type: "string",
    alias: ["P"],
    valueHint: "FILE",
    description: "Write the supervisor's pid to FILE, locked while it runs; -p then contains the child's pid",
  },
  supervise: { type: "boolean", description: "Run the command under a supervisor even without another supervision option" },
  "supervisor-user": {
    type: "string",
    valueHint: "USER[:GROUP]",
    description: "Switch the supervisor itself to USER once its pidfiles and log files are open (default: it keeps tinyd's user and only the child drops privileges)",
  },
  "stop-timeout": {
    type: "string",
    valueHint: "SECONDS",
    description: "Time between SIGTERM to the child's process group and SIGKILL when the service stops (default: 10)",
  },
  syslog: { type: "boolean", alias: ["S"], description: "Send the command's output lines to syslog" },
  "syslog-facility": { type: "string", alias: ["l"], valueHint: "FACILITY", description: "syslog facility (default: daemon)" },
  "syslog-priority": { type: "string", alias: ["s"], valueHint: "PRIORITY", description: "syslog priority of stdout lines (default: notice)" },
  "syslog-stderr-priority": { type: "string", valueHint: "PRIORITY", description: "syslog priority of stderr lines (default: err)" },
  "syslog-tag": { type: "string", alias: ["T"], valueHint: "TAG", description: "syslog tag (default: the command's name)" },
  "syslog-socket": { type: "string", valueHint: "PATH", description: "syslog socket (default: /dev/log; /var/run/syslog on macOS)" },
  "reopen-on-hup": { type: "boolean", alias: ["H"], description: "On SIGHUP, reopen the output files instead of passing the signal on" },
  "max-size": { type: "string", valueHint: "SIZE", description: "Rotate an output file when it reaches SIZE bytes (K, M and G suffixes allowed)" },
  keep: { type: "string", valueHint: "N", description: "Rotated output files to keep, FILE.1 to FILE.N (default: 5)" },
  "output-mask": {
    type: "string",
    alias: ["m"],
    valueHint: "1|2|3",
    description: "Which of the command's streams reach the output files and syslog: 1 stdout, 2 stderr, 3 both (default: 3)",
  },
  timestamps: { type: "boolean", description: "Prefix each output line with an ISO-8601 time in UTC" },
  title: {
    type: "string",
    alias: ["t"],
    valueHint: "TITLE",
    description: "Name the supervisor TITLE[childpid] in /proc/PID/comm and ps -o comm (Linux; 15 bytes at most); other platforms show tinyd",
  },
  // Privileges and resources.
  user: {
    type: "string",
    alias: ["u"],
    valueHint: "USER[:GROUP]",
    description: "Run the daemon as USER (name or uid) with the user's groups, or with GROUP as the only group; needs root unless USER is tinyd's own user",
  },
  group: { type: "string", valueHint: "GROUP", description: "Run the daemon with GROUP (name or gid) as its primary and only group; needs root" },
  "keep-env": { type: "boolean", description: "With -u, keep HOME, USER, LOGNAME and SHELL instead of setting them from the user's entry" },
  chroot: {
    type: "string",
    valueHint: "DIR",
    description: "Change the daemon's root directory to DIR before the chdir; the command and --cwd are paths inside DIR. Needs root",
  },
  nice: { type: "string", valueHint: "N", description: "Set the daemon's niceness to N, from -20 (highest priority) to 19" },
  limit: {
    type: "string",
    valueHint: "NAME=SOFT[:HARD]",
    multiple: true,
    description:
      "Set a resource limit: as, core, cpu, fsize, memlock, nofile, nproc or stack, as a number (bytes take K, M, G, T) or 'unlimited'; one value sets both limits; repeatable",
  },
  core: { type: "boolean", description: "Allow core dumps of any size (--limit core=unlimited)" },
  "no-core": { type: "boolean", description: "Disable core dumps (--limit core=0)" },
  "env-file": {
    type: "string",
    valueHint: "FILE",
    multiple: true,
    description: "Add the KEY=VALUE lines of FILE to the environment, before --env ('#' starts a comment line); repeatable",
  },
  verbose: { type: "boolean", alias: ["v"], description: "Print the daemon's pid on stdout once it runs" },
  quiet: { type: "boolean", alias: ["q"], description: "Print nothing but errors" },
  version: { type: "boolean", description: "Print the version and exit" },
  // Readiness
  "wait-ready": {
    type: "string",
    optionalValue: true,
    valueHint: "SECONDS",
    description:
      "Exit only once the daemon reports ready through NOTIFY_SOCKET (sd_notify) or the --notify-fd pipe, waiting up to SECONDS (default: 60; 0: no limit). Exits 69 when the daemon exits first and 75 on timeout, after stopping it",
  },
  "notify-fd": {
    type: "string",
    valueHint: "N",
    description: "Give the daemon a pipe at descriptor N to write a newline to once ready (s6 style), and set TINYD_NOTIFY_FD=N; implies --wait-ready",
  },
  ...help,
};

export const subcommands: Record<string, SubcommandDef> = {
  start: {
    name: "start",
    description: "Run a command as a daemon (the default when no subcommand is given)",
    usage: "[start] [OPTIONS] [--] COMMAND [ARGS...]",
    args: startOptions,
    positionals: [],
    takesCommand: true,
  },
  stop: {
    name: "stop",
    description: "Stop the daemon of a locked pidfile and wait until it has exited",
    usage: "stop -p FILE [--signal SIGNAL] [--timeout SECONDS] [--kill]",
    args: {
      pidfile: pidfileOption,
      signal: { type: "string", alias: ["s"], valueHint: "SIGNAL", description: "Signal to send, by name or number (default: TERM)" },
      timeout: { type: "string", alias: ["t"], valueHint: "SECONDS", description: "Seconds to wait for the daemon to exit (default: 10)" },
      kill: { type: "boolean", alias: ["k"], description: "Send SIGKILL when the daemon has not exited after the timeout" },
      quiet: { type: "boolean", alias: ["q"], description: "Print nothing but errors" },
      ...help,
    },
    positionals: [],
  },
  status: {
    name: "status",
    description: "Report whether the daemon of a pidfile runs; exits with the LSB status code",
    usage: "status -p FILE [--json]",
    args: {
      pidfile: pidfileOption,
      json: { type: "boolean", description: "Print the status as one JSON object" },
      quiet: { type: "boolean", alias: ["q"], description: "Print nothing; only the exit status tells" },
      ...help,
    },
    positionals: [],
  },
  signal: {
    name: "signal",
    description: "Send a signal, by name or number, to the daemon of a locked pidfile",
    usage: "signal -p FILE SIGNAL",
    args: { pidfile: pidfileOption, quiet: { type: "boolean", alias: ["q"], description: "Print nothing but errors" }, ...help },
    positionals: ["signal"],
  },
  reload: {
    name: "reload",
    description: "Send SIGHUP to the daemon of a locked pidfile",
    usage: "reload -p FILE",
    args: { pidfile: pidfileOption, quiet: { type: "boolean", alias: ["q"], description: "Print nothing but errors" }, ...help },
    positionals: [],
  },
  // Service files: the same start options, printed as a unit or script for an init system.
  service: {
    name: "service",
    description: "Print a systemd unit, an OpenRC script or an rc.d script that starts the command with these options",
    usage: "service systemd|openrc|rcd NAME [OPTIONS] [--] COMMAND [ARGS...]",
    args: serviceOptions(),
    positionals: ["init", "name"],
    takesCommand: true,
  },
};

/**
 * Options of tinyd service: its own, then every start option but --version,
 * so that an option added to start is accepted here and passed on unchanged.
 */
function serviceOptions(): OptionDefs {
  const { version: _version, help: _help, ...start } = startOptions;
  return {
    description: { type: "string", valueHint: "TEXT", description: "Description of the service (default: NAME and the command)" },
    tinyd: { type: "string", valueHint: "FILE", description: "Path of tinyd on the target system (default: the path of this tinyd)" },
    ...start,
    ...help,
  };
}
