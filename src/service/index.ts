/** tinyd service: a unit or script that starts a command with tinyd, for systemd, OpenRC or FreeBSD's rc.d. */
import type { OptionValues } from "../cli/argv";
import { openrcScript } from "./openrc";
import { rcdScript } from "./rcd";
import { serviceSpec } from "./spec";
import { systemdUnit } from "./systemd";

export { INIT_SYSTEMS, type InitSystem, type ServiceSpec, serviceSpec } from "./spec";

/** Returns the text of the service file for the parsed command line of tinyd service. */
export function serviceFile(options: OptionValues, positionals: readonly string[], command: readonly string[], version: string): string {
  const spec = serviceSpec(options, positionals, command, version);
  switch (spec.init) {
    case "systemd":
      return systemdUnit(spec);
    case "openrc":
      return openrcScript(spec);
    case "rcd":
      return rcdScript(spec);
  }
}
