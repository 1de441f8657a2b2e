/**
 * Help text, generated from the option declarations so that it cannot drift
 * from the parser. Written here rather than by citty's renderUsage, which
 * shows one-letter options as "--c", pads every line with trailing spaces and
 * colours output that is not a terminal.
 */
import { type OptionDef, type SubcommandDef, subcommands } from "./definitions";

const WIDTH = 80;

function aliases(def: OptionDef): string[] {
  const alias = (def as { alias?: string | string[] }).alias;
  if (alias === undefined) return [];
  return Array.isArray(alias) ? alias : [alias];
}

/** "-p, --pidfile FILE" for one option. */
export function optionSpelling(name: string, def: OptionDef): string {
  const forms = [...aliases(def).map((letter) => `-${letter}`), name.length === 1 ? `-${name}` : `--${name}`];
  const valueHint = (def as { valueHint?: string }).valueHint ?? "VALUE";
  let hint = "";
  if (def.type === "string") hint = def.optionalValue ? `[=${valueHint}]` : ` ${valueHint}`;
  return forms.join(", ") + hint;
}

function wrap(text: string, indent: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && indent + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(indent)}`);
}

function optionLines(sub: SubcommandDef): string[] {
  const entries = Object.entries(sub.args).filter(([, def]) => !def.hidden);
  const spellings = entries.map(([name, def]) => optionSpelling(name, def));
  const column = Math.min(Math.max(...spellings.map((s) => s.length)) + 4, 28);
  return entries.map(([, def], i) => {
    const spelling = `  ${spellings[i]}`;
    const pad = spelling.length + 2 <= column ? " ".repeat(column - spelling.length) : `\n${" ".repeat(column)}`;
    return `${spelling}${pad}${wrap(def.description ?? "", column)}`;
  });
}

/** Lists the subcommands, each description in a column past the longest name. */
function commandLines(): string[] {
  const all = Object.values(subcommands);
  // Two spaces of indent, the longest name, and at least two spaces before the description.
  const column = 2 + Math.max(...all.map((other) => other.name.length)) + 2;
  return all.map((other) => `  ${other.name.padEnd(column - 2)}${wrap(other.description, column)}`);
}

export function renderHelp(sub: SubcommandDef, version: string): string {
  const lines = [`tinyd ${version}: ${sub.description}`, "", `Usage: tinyd ${sub.usage}`];
  if (sub.name === "start") {
    lines.push(
      ...Object.values(subcommands)
        .filter((other) => other.name !== "start")
        .map((other) => `       tinyd ${other.usage}`),
    );
  }
  lines.push("", "Options:", ...optionLines(sub));
  if (sub.name === "start") {
    lines.push(
      "",
      "Commands:",
      ...commandLines(),
      "",
      wrap(
        "The first word that is not an option is the command, unless it names a subcommand; everything after it belongs to the command. 'tinyd stop --help' shows the options of stop, and likewise for the others.",
        0,
      ),
    );
  }
  return lines.join("\n");
}
