/**
 * A systemd service unit that starts the daemon with tinyd.
 *
 * tinyd detaches and exits once the daemon has exec'd and its pid is in the
 * pidfile, which is what Type=forking with PIDFile= expects. With
 * --foreground tinyd execs the command in its own place, so the unit is
 * Type=exec and systemd knows the main pid without a pidfile.
 */
import { systemdQuote, systemdSpecifiers } from "./quote";
import { optionWords, type ServiceSpec } from "./spec";

function commandLine(words: readonly string[]): string {
  return words.map(systemdQuote).join(" ");
}

export function systemdUnit(spec: ServiceSpec): string {
  const pidfileWords = spec.pidfile === null ? [] : ["--pidfile", spec.pidfile];
  const start = [spec.tinyd, ...(spec.foreground ? ["--foreground"] : []), ...pidfileWords, ...optionWords(spec.options, "long"), "--", ...spec.command];

  const service: string[] = [];
  if (spec.foreground) {
    service.push("Type=exec", `ExecStart=${commandLine(start)}`, "ExecReload=/bin/kill -HUP $MAINPID");
  } else {
    service.push(
      // TODO: Type=notify, with NotifyAccess=, once tinyd can pass the daemon's readiness on to systemd.
      "Type=forking",
      `PIDFile=${systemdSpecifiers(spec.pidfile!)}`,
      `ExecStart=${commandLine(start)}`,
      `ExecReload=${commandLine([spec.tinyd, "reload", "--pidfile", spec.pidfile!])}`,
    );
  }

  return [
    `# Written by tinyd ${spec.version}: tinyd service systemd ${spec.name}`,
    `# Install it as /etc/systemd/system/${spec.name}.service, then run: systemctl daemon-reload && systemctl enable --now ${spec.name}`,
    "",
    "[Unit]",
    `Description=${systemdSpecifiers(spec.description)}`,
    "After=network.target",
    "",
    "[Service]",
    ...service,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}
