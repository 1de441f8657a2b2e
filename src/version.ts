/** The version of tinyd, with the git commit when the build script set one. */
import packageJson from "../package.json" with { type: "json" };

declare const TINYD_COMMIT: string | undefined;

const commit = typeof TINYD_COMMIT === "string" && TINYD_COMMIT !== "" ? TINYD_COMMIT : null;

export const VERSION: string = packageJson.version;
export const VERSION_STRING: string = commit ? `${VERSION} (${commit})` : VERSION;
