/**
 * Test-only fault injection for rollback tests. Honoured only when
 * PODNET_TEST_SEAMS=1 is also set, so a stray variable in production cannot
 * break a pod:
 *
 * - `PODNET_TEST_FAIL_AT=<step>`: throw right after `<step>` succeeded (the
 *   rollback stack must undo everything before it).
 * - `PODNET_TEST_KILL_AT=<step>`: exit(137) right after `<step>`, without any
 *   rollback — what a SIGKILLed ADD leaves behind.
 *
 * Steps of ADD, in order: see `ADD_STEPS` ("ipam" = the IPAM result arrived; the
 * IPAM process runs from before "veth").
 *
 * @module
 */

import { CniError, ERR } from "./errors.ts";

/** ADD's steps, in the order they run; each is a seam. */
export const ADD_STEPS = [
  "veth",
  "host-link",
  "pod-link",
  "ipam",
  "host-sysctl",
  "host-routes",
  "pod-addrs",
  "pod-routes",
  "capture",
  "result",
] as const;

/** One of `ADD_STEPS`. */
export type AddStep = typeof ADD_STEPS[number];

/** A seam checker bound to an environment lookup. */
export type Seam = (step: AddStep) => void;

/** Returns the seam function for `env`; a no-op unless PODNET_TEST_SEAMS=1. */
export function seams(env: (k: string) => string | undefined): Seam {
  if (env("PODNET_TEST_SEAMS") !== "1") return () => {};
  const failAt = env("PODNET_TEST_FAIL_AT");
  const killAt = env("PODNET_TEST_KILL_AT");
  return (step) => {
    if (step === killAt) Deno.exit(137);
    if (step === failAt) throw new CniError(ERR.internal, `injected failure after step ${step} (PODNET_TEST_FAIL_AT)`);
  };
}
