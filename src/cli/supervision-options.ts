/** The supervision options of a parsed command line, as the library names them. */
import type { SupervisionOptions } from "../supervisor/config";
import type { OptionValues } from "./argv";

function text(options: OptionValues, name: string): string | undefined {
  const value = options[name];
  return typeof value === "string" ? value : undefined;
}

export function supervisionOptions(options: OptionValues): SupervisionOptions {
  return {
    supervise: options.supervise === true || undefined,
    restart: options.restart === true || undefined,
    restartDelay: text(options, "restart-delay"),
    restartMaxDelay: text(options, "restart-max-delay"),
    minUptime: text(options, "min-uptime"),
    restartOn: text(options, "restart-on"),
    noRestartExit: options["no-restart-exit"] as string[] | undefined,
    maxRestarts: text(options, "max-restarts"),
    restartWindow: text(options, "restart-window"),
    restartLimit: text(options, "C"),
    supervisorPidfile: text(options, "supervisor-pidfile"),
    stopTimeout: text(options, "stop-timeout"),
    syslog: options.syslog === true || undefined,
    syslogFacility: text(options, "syslog-facility"),
    syslogPriority: text(options, "syslog-priority"),
    syslogStderrPriority: text(options, "syslog-stderr-priority"),
    syslogTag: text(options, "syslog-tag"),
    syslogSocket: text(options, "syslog-socket"),
    reopenOnHup: options["reopen-on-hup"] === true || undefined,
    maxSize: text(options, "max-size"),
    keep: text(options, "keep"),
    outputMask: text(options, "output-mask"),
    timestamps: options.timestamps === true || undefined,
    title: text(options, "title"),
    supervisorUser: text(options, "supervisor-user"),
  };
}
