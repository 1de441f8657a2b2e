/**
 * The command-line interface as data: every subcommand with its options, in
 * citty's declaration format. The parser and the help text are both
 * generated from these objects.
 */
import type { ArgsDef } from "citty";

/** citty's argument declaration plus `multiple` for options that may repeat, such as --env. */
export type OptionDef = ArgsDef[string] & { multiple?: boolean; hidden?: boolean };
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
  verbose: { type: "boolean", alias: ["v"], description: "Print the daemon's pid on stdout once it runs" },
  quiet: { type: "boolean", alias: ["q"], description: "Print nothing but errors" },
  version: { type: "boolean", description: "Print the version and exit" },
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
