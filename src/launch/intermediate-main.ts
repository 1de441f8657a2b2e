/** Entry point of the fallback launch's intermediate when tinyd runs from source. */
import { runIntermediate } from "./intermediate";

runIntermediate();
