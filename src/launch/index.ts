/**
 * Chooses between the native launch and the fallback launch.
 *
 * The native launch is preferred: it forks once per daemon from compiled C,
 * resets every signal, and supports --no-close, --keep-signals and
 * --foreground. The fallback needs no compiler but starts a second runtime.
 */
import { TinydError } from "../errors";
import { LAUNCH_ENV } from "../native/compile";
import { launchFallback } from "./fallback";
import { launchNative, loadNativeLauncher } from "./native";
import type { LaunchRequest, LaunchResult } from "./request";

export type LaunchMethod = "auto" | "native" | "fallback";


function nativeAvailable(): boolean {
  try {
    loadNativeLauncher();
    return true;
  } catch (error) {
    // A compiler that exists but cannot be used is an error, not a reason to fall back.
    if (error instanceof TinydError) throw error;
    return false;
  }
}

export function selectedMethod(requested: LaunchMethod = "auto"): "native" | "fallback" {
  const fromEnv = process.env[LAUNCH_ENV];
  let method: LaunchMethod = requested;
  if (method === "auto" && (fromEnv === "native" || fromEnv === "fallback")) method = fromEnv;
  if (method === "native") {
    loadNativeLauncher();
    return "native";
  }
  if (method === "fallback") return "fallback";
  return nativeAvailable() ? "native" : "fallback";
}

export async function launch(request: LaunchRequest, method: LaunchMethod = "auto"): Promise<LaunchResult> {
  return selectedMethod(method) === "native" ? launchNative(request) : launchFallback(request);
}

export type { LaunchRequest, LaunchResult } from "./request";
export { LaunchStep } from "./request";
export { LAUNCH_ENV };
