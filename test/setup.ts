/** Preloaded by bun test (bunfig.toml), so that its hooks apply to every test file. */
import { afterEach } from "bun:test";
import { cleanUpAfterTest } from "./helpers";

afterEach(cleanUpAfterTest);
