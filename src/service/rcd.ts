/**
 * A FreeBSD rc.d script that starts the daemon with tinyd, written as rc.d
 * scripts that use daemon(8) are: rc.subr runs "$command $NAME_flags
 * $command_args" through eval, and finds the daemon for stop, status and
 * reload from $pidfile and $procname.
 */
import { readFileSync } from "node:fs";
import { shDoubleQuoted, shEvalWords } from "./quote";
import { optionWords, type ServiceSpec } from "./spec";

/**
 * Returns the interpreter of a script with a #! line, which rc.subr needs
 * as command_interpreter to recognise the daemon in ps, or null.
 */
function scriptInterpreter(path: string): string | null {
  let head: string;
  try {
    head = readFileSync(path).subarray(0, 256).toString("latin1");
  } catch {
    // The program exists only on the target system, or cannot be read here.
    return null;
  }
  const match = /^#!\s*(\S+)/.exec(head);
  if (!match) return null;
  // NOTE: with "#!/usr/bin/env prog" ps shows prog, which rc.subr cannot match against env; such a script is left without command_interpreter.
  if (match[1]!.endsWith("/env")) return null;
  return match[1]!;
}

export function rcdScript(spec: ServiceSpec): string {
  const variable = spec.name;
  const args = [...optionWords(spec.options, "short"), "--", ...spec.command];
  const interpreter = scriptInterpreter(spec.command[0]!);

  return [
    "#!/bin/sh",
    "#",
    `# Written by tinyd ${spec.version}: tinyd service rcd ${spec.name}`,
    `# Install it as /usr/local/etc/rc.d/${spec.name} with mode 0755, then run: sysrc ${variable}_enable=YES && service ${spec.name} start`,
    "#",
    `# PROVIDE: ${spec.name}`,
    "# REQUIRE: LOGIN",
    "# KEYWORD: shutdown",
    "#",
    "# rc.conf variables:",
    `# ${variable}_enable (bool):  YES starts ${spec.name} at boot. Default: NO`,
    `# ${variable}_pidfile (path): the daemon's pidfile. Default: ${spec.pidfile}`,
    `# ${variable}_flags (str):    more tinyd options, placed before the ones below. Default: none`,
    "",
    ". /etc/rc.subr",
    "",
    `name="${spec.name}"`,
    `rcvar="${variable}_enable"`,
    `desc="${shDoubleQuoted(spec.description)}"`,
    "",
    'load_rc_config "$name"',
    "",
    `: "\${${variable}_enable:=NO}"`,
    `: "\${${variable}_pidfile:=${shDoubleQuoted(spec.pidfile!)}}"`,
    "",
    `pidfile="\${${variable}_pidfile}"`,
    `procname="${shDoubleQuoted(spec.command[0]!)}"`,
    ...(interpreter === null ? [] : [`command_interpreter="${shDoubleQuoted(interpreter)}"`]),
    `command="${shDoubleQuoted(spec.tinyd)}"`,
    `command_args="-p \\"\\\${pidfile}\\" ${shEvalWords(args)}"`,
    'extra_commands="reload"',
    "",
    'run_rc_command "$1"',
    "",
  ].join("\n");
}
