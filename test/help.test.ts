/**
 * Tests of the help text that tinyd --help prints: the list of commands
 * lines up past the longest subcommand name, and the lists of options and
 * commands are no wider than 80 columns.
 */
import { describe, expect, test } from "bun:test";
import { renderHelp } from "../src/cli/help";
import { subcommands } from "../src/cli/definitions";
import { tinyd } from "./helpers";

/** Returns the lines of the Commands list, up to the blank line after it. */
function commandsSection(help: string): string[] {
  const lines = help.split("\n");
  const start = lines.indexOf("Commands:");
  if (start < 0) throw new Error(`no Commands: list in:\n${help}`);
  const end = lines.indexOf("", start);
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

describe("help", () => {
  test("commands list every subcommand", () => {
    const lines = commandsSection(renderHelp(subcommands.start!, "test"));
    const names = lines.filter((line) => /^ {2}\S/.test(line)).map((line) => line.trim().split(/\s+/)[0]);
    expect(names).toEqual(Object.keys(subcommands));
  });

  test("commands column fits longest name", () => {
    const lines = commandsSection(renderHelp(subcommands.start!, "test"));
    const longest = Math.max(...Object.keys(subcommands).map((name) => name.length));
    const column = 2 + longest + 2;
    for (const line of lines) {
      // A name is followed by at least two spaces, and a wrapped description continues in the same column.
      expect(line.slice(0, column).trimEnd().length).toBeLessThanOrEqual(column - 2);
      expect(line[column - 1]).toBe(" ");
      expect(line[column]).not.toBe(" ");
    }
  });

  test("service is two spaces from its description", () => {
    const line = commandsSection(renderHelp(subcommands.start!, "test")).find((text) => text.startsWith("  service"));
    expect(line).toStartWith("  service  Print ");
  });

  test("option and command lines fit 80 columns", () => {
    for (const sub of Object.values(subcommands)) {
      const lines = renderHelp(sub, "test").split("\n");
      // The title and usage lines are not wrapped; the lists below them are.
      const listed = lines.slice(lines.indexOf("Options:") + 1);
      for (const line of listed) expect(line.length).toBeLessThanOrEqual(80);
    }
  });

  test("tinyd --help prints the commands", async () => {
    const result = await tinyd(["--help"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("\n  service  Print a systemd unit");
    expect(result.stdout).toContain("\n  stop     Stop the daemon");
  });
});
