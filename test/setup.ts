/**
 * Preloaded before every test file (bunfig.toml), so that the cleanup hook
 * applies to all of them: a hook registered by a shared helper module would
 * attach only to the first file that imports it.
 */
import { afterEach } from "bun:test";
import { cleanUpAfterTest } from "./helpers";

afterEach(cleanUpAfterTest);
