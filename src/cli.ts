#!/usr/bin/env bun
/** Entry point of the tinyd binary. */
import { INTERMEDIATE_ENV } from "./launch/fallback";

if (process.env[INTERMEDIATE_ENV] === "1") {
  // The fallback launch runs this binary again as its intermediate process.
  const { runIntermediate } = await import("./launch/intermediate");
  runIntermediate();
}

const { main } = await import("./cli/main");
process.exit(await main(process.argv.slice(2)));
