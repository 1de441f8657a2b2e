#!/usr/bin/env bun
/** Entry point of the tinyd binary. */
import { ROLE_ENV } from "./self";

if (process.env[ROLE_ENV.intermediate] === "1") {
  // The fallback launch runs this binary again as its intermediate process.
  const { runIntermediate } = await import("./launch/intermediate");
  runIntermediate();
}
if (process.env[ROLE_ENV.supervisor] === "1") {
  const { runSupervisor } = await import("./supervisor/supervisor");
  await runSupervisor();
}

const { main } = await import("./cli/main");
process.exit(await main(process.argv.slice(2)));
