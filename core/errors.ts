/**
 * Errors shared by every command. Kept free of imports so the dispatcher can
 * use them without loading anything else (start-up time is paid per ADD).
 *
 * @module
 */

/** A usage error: exit code 2, message names the bad flag or value. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** What a caught value says: an Error's message, anything else as a string. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
