/** Entry point of the supervisor process when tinyd runs from source. */
import { runSupervisor } from "./supervisor";

await runSupervisor();
