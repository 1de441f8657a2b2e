/**
 * The service that tinyd service describes: init system, name, pidfile and
 * the tinyd command line that starts the daemon, checked and with every
 * path made absolute, because an init system starts services from /.
 */
import { isAbsolute, resolve } from "node:path";
import type { OptionValues } from "../cli/argv";
import { type OptionDef, subcommands } from "../cli/definitions";
import { ExitCode, TinydError, usageError } from "../errors";
import { DEFAULT_READY_TIMEOUT_SECONDS, parseUmask } from "../options";
import { MAX_NOTIFY_FD, MIN_NOTIFY_FD, NOTIFY_FD_ENV, NOTIFY_SOCKET_ENV } from "../readiness/variables";
import { isCompiled } from "../self";
import { supervisionRequested } from "../supervisor/config";
import { supervisionOptions } from "../cli/supervision-options";

export const INIT_SYSTEMS = ["systemd", "openrc", "rcd"] as const;
export type InitSystem = (typeof INIT_SYSTEMS)[number];

/** One start option as tinyd service passes it on. */
export interface PassedOption {
  /** The option's declared name, such as "umask" or "c". */
  name: string;
  /** Its one-letter alias, such as "o" for output, or null. */
  letter: string | null;
  /** The value, or null for a flag. */
  value: string | null;
  /** The value must follow "=" in the same word, as in --wait-ready=30, because the option's value is optional. */
  attached: boolean;
}

/** The readiness that the start waits for, from --wait-ready and --notify-fd. */
export interface ServiceReadiness {
  /** Seconds that tinyd waits for the daemon's report; null waits without a limit. */
  timeoutSeconds: number | null;
  /** The descriptor of --notify-fd, or null when the daemon reports over NOTIFY_SOCKET only. */
  notifyFd: number | null;
}

export interface ServiceSpec {
  init: InitSystem;
  name: string;
  description: string;
  /** Absolute path of tinyd on the target system. */
  tinyd: string;
  /** Absolute path of the daemon's pidfile; null only for a foreground systemd service without -p. */
  pidfile: string | null;
  /**
   * The pidfile that names the service's main process: the supervisor's (-P)
   * under supervision, since -p names a child that comes and goes, and
   * otherwise the daemon's.
   */
  mainPidfile: string | null;
  foreground: boolean;
  /** Start options other than --pidfile and --foreground, in declaration order. */
  options: PassedOption[];
  /** Null when the start returns without waiting for the daemon to be ready. */
  readiness: ServiceReadiness | null;
  /** The daemon's command, its program an absolute path. */
  command: string[];
  /** tinyd's version, for the header of the file. */
  version: string;
}

/** Options of tinyd service itself, which are not passed on to the start. */
const OWN_OPTIONS = new Set(["description", "tinyd", "help"]);
/** Options that each generator places itself. */
const PLACED_OPTIONS = new Set(["pidfile", "foreground"]);
/** Value hints of options that name a file or directory. */
const PATH_HINTS = new Set(["FILE", "DIR", "PATH"]);

const DEFAULT_INSTALLED_TINYD = "/usr/local/bin/tinyd";

/** Where each init system keeps pidfiles. */
const PIDFILE_DIRECTORY: Record<InitSystem, string> = { systemd: "/run", openrc: "/run", rcd: "/var/run" };

function aliasOf(def: OptionDef): string | null {
  const alias = (def as { alias?: string | string[] }).alias;
  if (alias === undefined) return null;
  return (Array.isArray(alias) ? alias[0] : alias) ?? null;
}

function isPathOption(def: OptionDef): boolean {
  return PATH_HINTS.has((def as { valueHint?: string }).valueHint ?? "");
}

/** Returns the path of the running tinyd binary, or the usual install path when tinyd runs from its sources. */
function runningTinyd(): string {
  return isCompiled() ? process.execPath : DEFAULT_INSTALLED_TINYD;
}

function parseInit(value: string): InitSystem {
  const init = INIT_SYSTEMS.find((known) => known === value);
  if (init === undefined) {
    throw usageError(`unknown init system '${value}': expected one of ${INIT_SYSTEMS.join(", ")}`, { init: value });
  }
  return init;
}

function checkName(init: InitSystem, name: string): void {
  // rc.conf variables such as NAME_enable are named after an rc.d service.
  const pattern = init === "rcd" ? /^[A-Za-z_][A-Za-z0-9_]{0,63}$/ : /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
  if (pattern.test(name)) return;
  const allowed = init === "rcd" ? "letters, digits and underscores, not starting with a digit" : "letters, digits, '_', '.' and '-'";
  throw usageError(`invalid service name '${name}' for ${init}: use up to 64 ${allowed}`, { name });
}

/**
 * Returns the command with its program as an absolute path. A bare name is
 * looked up in PATH now, because init systems start services with a short
 * PATH of their own. An absolute path is taken as it is, since it may name a
 * program that exists only on the target system.
 */
function absoluteCommand(command: readonly string[], cwd: string): string[] {
  const program = command[0];
  if (program === undefined) {
    throw usageError("no command given: put the command to run after the options, for example: tinyd service systemd web -- /usr/bin/server");
  }
  if (program === "") throw usageError("the command is empty: name a program to run after --");
  if (program.includes("/")) return [resolve(cwd, program), ...command.slice(1)];
  const found = Bun.which(program, { PATH: process.env.PATH ?? "" });
  if (found === null) {
    throw new TinydError("E_EXEC", `cannot find '${program}' in PATH (${process.env.PATH ?? ""}): give the command's full path`, ExitCode.NOT_FOUND, {
      command: program,
    });
  }
  return [resolve(found), ...command.slice(1)];
}

/**
 * Checks what can be checked away from the target system: values and
 * contradictions. Paths are not checked, since they name files there.
 */
function checkStartOptions(options: OptionValues): void {
  if (typeof options.umask === "string") parseUmask(options.umask);
  for (const entry of (options.env as string[] | undefined) ?? []) {
    if (entry.indexOf("=") <= 0) throw usageError(`invalid environment entry '${entry}': expected KEY=VALUE with a non-empty KEY`, { env: entry });
  }
  if (options.c === true && options["no-chdir"] === true) throw usageError("-c and --no-chdir contradict each other: give one of them");
  if (options.f === true && options["no-close"] === true) throw usageError("-f and --no-close contradict each other: give one of them");
  if (options.cwd !== undefined && options["no-chdir"] === true) throw usageError("--cwd and --no-chdir contradict each other: give one of them");
  if (options.output !== undefined && (options.stdout !== undefined || options.stderr !== undefined)) {
    throw usageError("-o/--output sets both stdout and stderr: combine it with neither --stdout nor --stderr");
  }
}

/**
 * Reads --wait-ready and --notify-fd as the start will, and rejects what the
 * start would reject, so that a unit or script does not fail at every start.
 */
function serviceReadiness(options: OptionValues, pidfile: string | null): ServiceReadiness | null {
  const waitReady = options["wait-ready"];
  const notifyFdText = typeof options["notify-fd"] === "string" ? options["notify-fd"] : undefined;
  if ((waitReady === undefined || waitReady === false) && notifyFdText === undefined) return null;

  let timeoutSeconds: number | null = DEFAULT_READY_TIMEOUT_SECONDS;
  if (typeof waitReady === "string") {
    const seconds = Number(waitReady);
    if (waitReady.trim() === "" || !Number.isFinite(seconds) || seconds < 0) {
      throw usageError(`invalid --wait-ready '${waitReady}': expected a number of seconds, 0 or more (0 waits without a limit)`, { waitReady });
    }
    timeoutSeconds = seconds === 0 ? null : seconds;
  }

  let notifyFd: number | null = null;
  if (notifyFdText !== undefined) {
    notifyFd = /^\d+$/.test(notifyFdText) ? Number(notifyFdText) : Number.NaN;
    if (!(notifyFd >= MIN_NOTIFY_FD && notifyFd <= MAX_NOTIFY_FD)) {
      throw usageError(`invalid --notify-fd '${notifyFdText}': expected a descriptor number from ${MIN_NOTIFY_FD} to ${MAX_NOTIFY_FD}`, { notifyFd: notifyFdText });
    }
    if (notifyFd === 3 && pidfile !== null && options["no-close"] !== true) {
      throw usageError(`--notify-fd 3 collides with the lock of the pidfile ${pidfile}, which the daemon holds on descriptor 3: choose 4 or higher`);
    }
  }

  for (const entry of (options.env as string[] | undefined) ?? []) {
    const key = entry.slice(0, entry.indexOf("="));
    if (key === NOTIFY_SOCKET_ENV || key === NOTIFY_FD_ENV) {
      throw usageError(`--env ${key} conflicts with readiness, which sets ${key} itself: remove it from --env`, { env: key });
    }
  }
  return { timeoutSeconds, notifyFd };
}

function checkOneLine(value: string, option: string): string {
  if (/[\x00-\x1f\x7f]/.test(value)) throw usageError(`invalid ${option} '${value}': it must be one line without control characters`);
  return value;
}

/** Builds the service from the parsed command line of tinyd service. */
export function serviceSpec(options: OptionValues, positionals: readonly string[], command: readonly string[], version: string, cwd = process.cwd()): ServiceSpec {
  const init = parseInit(positionals[0]!);
  const name = positionals[1]!;
  checkName(init, name);
  checkStartOptions(options);

  const foreground = options.foreground === true;
  if (foreground && init !== "systemd") {
    throw usageError(`-F/--foreground does not fit ${init}, whose scripts expect the command to detach: drop it, or use systemd`);
  }
  const supervised = supervisionRequested(supervisionOptions(options));
  if (foreground && supervised) {
    throw usageError("--foreground and supervision options cannot be combined: a supervisor always detaches");
  }

  const absoluteCommandLine = absoluteCommand(command, cwd);

  const defs = subcommands.service!.args;
  const passed: PassedOption[] = [];
  for (const [key, def] of Object.entries(defs)) {
    if (OWN_OPTIONS.has(key) || PLACED_OPTIONS.has(key)) continue;
    const value = options[key];
    if (value === undefined || value === false) continue;
    const letter = aliasOf(def);
    const attached = def.optionalValue === true;
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (item === true) {
        passed.push({ name: key, letter, value: null, attached });
      } else {
        passed.push({ name: key, letter, value: isPathOption(def) ? resolve(cwd, String(item)) : String(item), attached });
      }
    }
  }

  const givenPidfile = typeof options.pidfile === "string" ? options.pidfile : undefined;
  if (givenPidfile === "") throw usageError("invalid pidfile '': expected a path");
  const pidfile = givenPidfile !== undefined ? resolve(cwd, givenPidfile) : foreground ? null : `${PIDFILE_DIRECTORY[init]}/${name}.pid`;

  // A supervised service always gets a supervisor pidfile, the one an init system can track.
  let mainPidfile = pidfile;
  if (supervised) {
    const given = passed.find((option) => option.name === "supervisor-pidfile");
    if (given) {
      mainPidfile = given.value;
    } else {
      mainPidfile = `${PIDFILE_DIRECTORY[init]}/${name}.sup.pid`;
      passed.push({ name: "supervisor-pidfile", letter: "P", value: mainPidfile, attached: false });
    }
  }

  const givenTinyd = typeof options.tinyd === "string" ? options.tinyd : undefined;
  if (givenTinyd !== undefined && !isAbsolute(givenTinyd)) {
    throw usageError(`invalid --tinyd '${givenTinyd}': expected the absolute path of tinyd on the target system, such as /usr/local/bin/tinyd`);
  }

  const givenDescription = typeof options.description === "string" ? checkOneLine(options.description, "--description") : undefined;
  const commandText = absoluteCommandLine.join(" ").replace(/[\x00-\x1f\x7f]/g, " ");

  return {
    init,
    name,
    description: givenDescription ?? `${name}: ${commandText}`,
    tinyd: givenTinyd ?? runningTinyd(),
    pidfile,
    mainPidfile,
    foreground,
    options: passed,
    readiness: serviceReadiness(options, pidfile),
    command: absoluteCommandLine,
    version,
  };
}

/**
 * Spells the passed options as words: with long names ("--output FILE"),
 * or with one-letter aliases where they exist ("-o FILE"), as rc.d scripts
 * write daemon(8) flags. An optional value goes in the same word as its
 * long name ("--wait-ready=30"), since a separate word would be taken for
 * the command.
 */
export function optionWords(options: readonly PassedOption[], style: "long" | "short"): string[] {
  const words: string[] = [];
  for (const option of options) {
    if (option.attached) {
      words.push(option.value === null ? `--${option.name}` : `--${option.name}=${option.value}`);
      continue;
    }
    let flag = `--${option.name}`;
    if (option.name.length === 1) flag = `-${option.name}`;
    else if (style === "short" && option.letter !== null) flag = `-${option.letter}`;
    words.push(flag);
    if (option.value !== null) words.push(option.value);
  }
  return words;
}
