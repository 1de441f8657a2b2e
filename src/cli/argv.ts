/**
 * Splits tinyd's command line into the subcommand, tinyd's own options and
 * the daemon's command.
 *
 * tinyd parses its options itself, from the citty declarations. citty 0.2
 * takes the first word without a dash as a subcommand and keeps parsing
 * options after the command. It also accepts unknown options silently and
 * keeps only the last of a repeated option. Here everything after the first
 * word that is not an option, or after "--", belongs to the command.
 */
import { usageError } from "../errors";
import { type OptionDef, type OptionDefs, type SubcommandDef, subcommands } from "./definitions";

export type OptionValues = Record<string, string | boolean | string[]>;

export interface ParsedCommandLine {
  subcommand: SubcommandDef;
  /** Options by their long name. */
  options: OptionValues;
  /** Positional arguments of control subcommands. */
  positionals: string[];
  /** The daemon's command and its arguments, for start. */
  command: string[];
}

function findLong(defs: OptionDefs, name: string): [string, OptionDef] | undefined {
  const def = defs[name];
  return def ? [name, def] : undefined;
}

function findShort(defs: OptionDefs, letter: string): [string, OptionDef] | undefined {
  for (const [name, def] of Object.entries(defs)) {
    const aliases = (def as { alias?: string | string[] }).alias ?? [];
    const list = Array.isArray(aliases) ? aliases : [aliases];
    if (list.includes(letter) || name === letter) return [name, def];
  }
  return undefined;
}

function assign(values: OptionValues, name: string, def: OptionDef, value: string | boolean): void {
  if (def.multiple) {
    const list = (values[name] as string[] | undefined) ?? [];
    list.push(value as string);
    values[name] = list;
  } else {
    values[name] = value;
  }
}

function spelled(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

function unknownOption(option: string, sub: SubcommandDef): never {
  const where = sub.name === "start" ? "tinyd --help" : `tinyd ${sub.name} --help`;
  const commandHint = sub.takesCommand ? ", and put the command's own options after --" : "";
  throw usageError(`unknown option '${option}'. Run '${where}' for the list of options${commandHint}`, {
    option,
  });
}

/**
 * Parses tinyd's argv (without the program name). Throws E_USAGE naming the
 * offending word.
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  let index = 0;
  let sub = subcommands.start!;
  const first = argv[0];
  if (first !== undefined && !first.startsWith("-") && Object.hasOwn(subcommands, first)) {
    sub = subcommands[first]!;
    index = 1;
  }

  const defs = sub.args;
  const options: OptionValues = {};
  const positionals: string[] = [];
  let command: string[] = [];

  const takeValue = (name: string, attached: string | undefined): string => {
    if (attached !== undefined) return attached;
    if (index + 1 >= argv.length) {
      const hint = (defs[name] as { valueHint?: string }).valueHint ?? "VALUE";
      throw usageError(`option ${spelled(name)} needs a value (${hint})`, { option: name });
    }
    index += 1;
    return argv[index]!;
  };

  // The option whose value may only be attached, when it was the word just before.
  let bareOptional: string | null = null;
  let afterDashes = false;

  for (; index < argv.length; index++) {
    const word = argv[index]!;

    if (word === "--") {
      index += 1;
      afterDashes = true;
      break;
    }

    if (word.startsWith("--")) {
      const equals = word.indexOf("=");
      const name = equals < 0 ? word.slice(2) : word.slice(2, equals);
      const attached = equals < 0 ? undefined : word.slice(equals + 1);
      // One-letter options such as -c exist only in their short form.
      const found = name.length > 1 ? findLong(defs, name) : undefined;
      if (!found) unknownOption(word, sub);
      const [key, def] = found;
      if (def.type === "boolean") {
        if (attached !== undefined) throw usageError(`option --${key} takes no value, but got '${attached}'`, { option: key });
        assign(options, key, def, true);
      } else if (def.optionalValue) {
        assign(options, key, def, attached ?? true);
        if (attached === undefined) {
          bareOptional = key;
          continue;
        }
      } else {
        assign(options, key, def, takeValue(key, attached));
      }
      continue;
    }

    if (word.startsWith("-") && word.length > 1) {
      // Short options may be grouped (-cf) and a value may be attached (-pFILE).
      for (let at = 1; at < word.length; at++) {
        const letter = word[at]!;
        const found = findShort(defs, letter);
        if (!found) unknownOption(`-${letter}`, sub);
        const [key, def] = found;
        if (def.type === "boolean") {
          assign(options, key, def, true);
          continue;
        }
        const rest = word.slice(at + 1);
        assign(options, key, def, takeValue(key, rest === "" ? undefined : rest));
        break;
      }
      continue;
    }

    if (sub.takesCommand && positionals.length === sub.positionals.length) break;
    positionals.push(word);
  }

  if (sub.takesCommand) {
    command = argv.slice(index);
    const first = command[0];
    // Two common slips make a command that cannot be meant.
    if (!afterDashes && first !== undefined && bareOptional !== null && index > 0 && argv[index - 1] === `--${bareOptional}` && /^\d+(\.\d+)?$/.test(first)) {
      throw usageError(`--${bareOptional} takes its value after '=': write --${bareOptional}=${first}, or put -- before a command named ${first}`);
    }
    if (!afterDashes && first !== undefined && Object.hasOwn(subcommands, first)) {
      throw usageError(`'${first}' is a subcommand, so it goes first: tinyd ${first} [OPTIONS]. To run a command named ${first}, put -- before it`);
    }
  } else if (index < argv.length) {
    // Control subcommands take no command: words after -- are positionals.
    positionals.push(...argv.slice(index));
  }

  if (options.help || options.version) return { subcommand: sub, options, positionals, command };

  if (positionals.length > sub.positionals.length) {
    throw usageError(`unexpected argument '${positionals[sub.positionals.length]}'. Usage: tinyd ${sub.usage}`);
  }
  for (let i = positionals.length; i < sub.positionals.length; i++) {
    throw usageError(`missing ${sub.positionals[i]!.toUpperCase()}. Usage: tinyd ${sub.usage}`);
  }
  return { subcommand: sub, options, positionals, command };
}
