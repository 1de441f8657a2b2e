/**
 * Tests of the command-line split: which words are tinyd's and which are the
 * daemon's command. Pure parsing, so it runs in-process.
 */
import { describe, expect, test } from "bun:test";
import { parseCommandLine } from "../src/cli/argv";
import { TinydError } from "../src/errors";

function usageMessage(argv: string[]): string {
  try {
    parseCommandLine(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(TinydError);
    expect((error as TinydError).exitCode).toBe(64);
    return (error as TinydError).message;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
}

describe("parseCommandLine", () => {
  test("three spellings of start agree", () => {
    const spellings = [
      ["-p", "f", "--", "cmd", "a"],
      ["-p", "f", "cmd", "a"],
      ["start", "-p", "f", "--", "cmd", "a"],
    ];
    for (const argv of spellings) {
      const parsed = parseCommandLine(argv);
      expect(parsed.subcommand.name).toBe("start");
      expect(parsed.options.pidfile).toBe("f");
      expect(parsed.command).toEqual(["cmd", "a"]);
    }
  });

  test("options after the command are the command's", () => {
    const parsed = parseCommandLine(["-p", "f", "server", "-p", "80", "-h", "--version"]);
    expect(parsed.options).toEqual({ pidfile: "f" });
    expect(parsed.command).toEqual(["server", "-p", "80", "-h", "--version"]);
  });

  test("help after -- belongs to the command", () => {
    const parsed = parseCommandLine(["--", "cmd", "-h"]);
    expect(parsed.options.help).toBeUndefined();
    expect(parsed.command).toEqual(["cmd", "-h"]);
  });

  test("subcommand name after -- is a command", () => {
    const parsed = parseCommandLine(["-p", "f", "--", "stop", "now"]);
    expect(parsed.subcommand.name).toBe("start");
    expect(parsed.command).toEqual(["stop", "now"]);
  });

  test("subcommand name after options is rejected", () => {
    expect(usageMessage(["-p", "f", "status"])).toBe("'status' is a subcommand, so it goes first: tinyd status [OPTIONS]. To run a command named status, put -- before it");
  });

  test("bare wait-ready before a number is rejected", () => {
    expect(usageMessage(["--wait-ready", "3", "server"])).toBe("--wait-ready takes its value after '=': write --wait-ready=3, or put -- before a command named 3");
    const parsed = parseCommandLine(["--wait-ready", "--", "3"]);
    expect(parsed.command).toEqual(["3"]);
  });

  test("grouped short flags and attached values", () => {
    const parsed = parseCommandLine(["-cfv", "-pfile.pid", "-o/var/log/x", "cmd"]);
    expect(parsed.options).toEqual({ c: true, f: true, verbose: true, pidfile: "file.pid", output: "/var/log/x" });
    expect(parsed.command).toEqual(["cmd"]);
  });

  test("long options with equals and repeated env", () => {
    const parsed = parseCommandLine(["--pidfile=a.pid", "--env", "A=1", "--env=B=2", "--umask=077", "cmd"]);
    expect(parsed.options).toEqual({ pidfile: "a.pid", env: ["A=1", "B=2"], umask: "077" });
  });

  test("value may start with a dash", () => {
    const parsed = parseCommandLine(["--cwd", "-odd-dir", "cmd"]);
    expect(parsed.options.cwd).toBe("-odd-dir");
  });

  test("control subcommands take positionals", () => {
    const parsed = parseCommandLine(["signal", "-p", "f", "USR1"]);
    expect(parsed.subcommand.name).toBe("signal");
    expect(parsed.positionals).toEqual(["USR1"]);
  });

  test("errors name the offending word", () => {
    expect(usageMessage(["--bogus", "cmd"])).toBe("unknown option '--bogus'. Run 'tinyd --help' for the list of options, and put the command's own options after --");
    expect(usageMessage(["-Z", "cmd"])).toStartWith("unknown option '-Z'.");
    expect(usageMessage(["stop", "--json"])).toStartWith("unknown option '--json'. Run 'tinyd stop --help'");
    expect(usageMessage(["-p"])).toBe("option --pidfile needs a value (FILE)");
    expect(usageMessage(["--no-close=yes", "cmd"])).toBe("option --no-close takes no value, but got 'yes'");
    expect(usageMessage(["signal", "-p", "f", "HUP", "extra"])).toBe("unexpected argument 'extra'. Usage: tinyd signal -p FILE SIGNAL");
  });

  test("one-letter options have no long form", () => {
    expect(usageMessage(["--c", "cmd"])).toStartWith("unknown option '--c'.");
  });
});
