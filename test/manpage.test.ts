/**
 * Tests of man/tinyd.8: mandoc finds nothing above style level, and every
 * subcommand and option declared in src/cli/definitions.ts is documented,
 * so an option added without its documentation fails here.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type OptionDef, type SubcommandDef, subcommands } from "../src/cli/definitions";
import { ROOT } from "./helpers";

const PAGE = join(ROOT, "man", "tinyd.8");

/**
 * Returns the text of the subsection ".Ss tinyd NAME", up to the next
 * subcommand's subsection or .Sh. The subsections between them, such as
 * "Supervision" after "tinyd start", document options of NAME.
 */
function section(page: string, name: string): string | null {
  const start = page.indexOf(`\n.Ss tinyd ${name}\n`);
  if (start < 0) return null;
  const rest = page.slice(start + 1);
  const end = rest.slice(1).search(/\n\.(Ss tinyd |Sh )/);
  return end < 0 ? rest : rest.slice(0, end + 1);
}

/** Returns "-p" and "--pidfile" for an option as mdoc writes them: "Fl p" and "Fl \\-pidfile". */
function mdocFlags(name: string, def: OptionDef): string[] {
  const alias = (def as { alias?: string | string[] }).alias;
  const letters = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
  const long = name.length === 1 ? `Fl ${name}` : `Fl \\-${name}`;
  return [...letters.map((letter) => `Fl ${letter}`), long];
}

function mentions(text: string, flag: string): boolean {
  const escaped = flag.replace(/[\\^$.*+?()[\]{}|-]/g, "\\$&");
  return new RegExp(`(^|[\\s.])${escaped}(?=[\\s,]|$)`, "m").test(text);
}

/**
 * Lists what the page lacks: a subcommand without its subsection or
 * synopsis line, or an option whose flags its subsection does not show.
 * Options that a subcommand shares with start, as tinyd service does, may
 * be documented under start.
 */
function undocumented(page: string, defs: Record<string, SubcommandDef>): string[] {
  const missing: string[] = [];
  const synopsis = page.slice(page.indexOf(".Sh SYNOPSIS"), page.indexOf(".Sh DESCRIPTION"));
  const startText = section(page, "start") ?? "";
  for (const sub of Object.values(defs)) {
    const text = section(page, sub.name);
    if (text === null) {
      missing.push(`subsection .Ss tinyd ${sub.name}`);
      continue;
    }
    if (!mentions(synopsis, `Cm ${sub.name}`)) missing.push(`synopsis of ${sub.name}`);
    for (const [name, def] of Object.entries(sub.args)) {
      const shared = sub.name !== "start" && defs.start?.args[name] === def;
      for (const flag of mdocFlags(name, def)) {
        if (!mentions(text, flag) && !(shared && mentions(startText, flag))) missing.push(`${sub.name}: ${flag}`);
      }
    }
  }
  return missing;
}

test("page documents every option", () => {
  expect(undocumented(readFileSync(PAGE, "utf8"), subcommands)).toEqual([]);
});

test("check finds a missing option", () => {
  const page = readFileSync(PAGE, "utf8").replace(".It Fl \\-keep-signals\n", ".It Fl \\-kept\n").replace(".Ss tinyd reload\n", ".Ss reloading\n");
  expect(undocumented(page, subcommands)).toEqual(["start: Fl \\-keep-signals", "subsection .Ss tinyd reload", "service: Fl \\-keep-signals"]);
});

test("start spans its option groups", () => {
  const start = section(readFileSync(PAGE, "utf8"), "start") ?? "";
  expect(start).toContain("\n.Ss Supervision\n");
  expect(start).toContain("\n.Ss Readiness\n");
  expect(start).not.toContain("\n.Ss tinyd stop\n");
});

test("mandoc lint finds no warning", () => {
  const mandoc = Bun.which("mandoc");
  if (mandoc === null) return void console.log("skipped: mandoc is not installed");
  const lint = Bun.spawnSync([mandoc, "-T", "lint", "-W", "warning", PAGE], { stdout: "pipe", stderr: "pipe" });
  expect(lint.stdout.toString() + lint.stderr.toString()).toBe("");
  expect(lint.exitCode).toBe(0);
});

test("page sections are all there", () => {
  const page = readFileSync(PAGE, "utf8");
  for (const heading of ["NAME", "SYNOPSIS", "DESCRIPTION", "ENVIRONMENT", "FILES", "EXIT STATUS", "SIGNALS", "EXAMPLES", "COMPATIBILITY", "SEE ALSO"]) {
    expect(page).toContain(`\n.Sh ${heading}\n`);
  }
});
