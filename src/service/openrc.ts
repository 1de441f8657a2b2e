/**
 * An OpenRC script that starts the daemon with tinyd.
 *
 * OpenRC's default start and stop run start-stop-daemon with --exec
 * "$command", which would look for a process running tinyd, while the
 * daemon runs the command. So the script defines start, stop, reload and
 * status with tinyd's own subcommands, which work on the locked pidfile.
 */
import { shDoubleQuoted, shEvalWords } from "./quote";
import { optionWords, type ServiceSpec } from "./spec";

export function openrcScript(spec: ServiceSpec): string {
  const args = [...optionWords(spec.options, "long"), "--", ...spec.command];
  return [
    "#!/sbin/openrc-run",
    `# Written by tinyd ${spec.version}: tinyd service openrc ${spec.name}`,
    `# Install it as /etc/init.d/${spec.name} with mode 0755, then run: rc-update add ${spec.name} default && rc-service ${spec.name} start`,
    `# /etc/conf.d/${spec.name} may set pidfile and stop_timeout (seconds).`,
    "",
    `description="${shDoubleQuoted(spec.description)}"`,
    `command="${shDoubleQuoted(spec.tinyd)}"`,
    `command_args="${shEvalWords(args)}"`,
    `pidfile="\${pidfile:-${shDoubleQuoted(spec.pidfile!)}}"`,
    `stop_timeout="\${stop_timeout:-10}"`,
    `extra_started_commands="reload"`,
    "",
    "depend() {",
    "\tuse logger net",
    "}",
    "",
    "start() {",
    '\tebegin "Starting ${RC_SVCNAME}"',
    '\teval "\\"\\${command}\\" --pidfile \\"\\${pidfile}\\" ${command_args}"',
    "\teend $?",
    "}",
    "",
    "stop() {",
    '\tebegin "Stopping ${RC_SVCNAME}"',
    '\t"${command}" stop --pidfile "${pidfile}" --timeout "${stop_timeout}"',
    "\teend $?",
    "}",
    "",
    "reload() {",
    '\tebegin "Reloading ${RC_SVCNAME}"',
    '\t"${command}" reload --pidfile "${pidfile}"',
    "\teend $?",
    "}",
    "",
    "status() {",
    '\t"${command}" status --pidfile "${pidfile}"',
    "}",
    "",
  ].join("\n");
}
