/**
 * The rollback stack of a multi-step mutation: every step that changed
 * something pushes its undo; on failure the undos run newest first. An undo
 * that fails is reported, not thrown, so the remaining undos still run and the
 * original error is the one the runtime sees.
 *
 * @module
 */

import { errorText } from "../core/errors.ts";

/** One undo: a description for the log and the action. */
interface Undo {
  what: string;
  fn: () => void | Promise<void>;
}

/** Undo steps, run in reverse order by `run()`. */
export class Rollback {
  readonly #steps: Undo[] = [];

  /** Registers the undo of a step that just succeeded. */
  push(what: string, fn: () => void | Promise<void>): void {
    this.#steps.push({ what, fn });
  }

  /** Number of registered undos. */
  get size(): number {
    return this.#steps.length;
  }

  /**
   * Runs all undos newest first, synchronously (for callers whose undos are
   * all synchronous, such as `podnet attach`); returns the ones that failed.
   */
  runSync(): string[] {
    const failed: string[] = [];
    for (let s = this.#steps.pop(); s !== undefined; s = this.#steps.pop()) {
      try {
        const r = s.fn();
        if (r instanceof Promise) failed.push(`${s.what}: asynchronous undo in a synchronous rollback`);
      } catch (e) {
        failed.push(`${s.what}: ${errorText(e)}`);
      }
    }
    return failed;
  }

  /**
   * Runs all undos newest first; returns the ones that failed, with their
   * error text. `report` hears of each undo as it ends (`error` null: done).
   */
  async run(report: (what: string, error: Error | null) => void = () => {}): Promise<string[]> {
    const failed: string[] = [];
    for (let s = this.#steps.pop(); s !== undefined; s = this.#steps.pop()) {
      try {
        await s.fn();
        report(s.what, null);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        failed.push(`${s.what}: ${err.message}`);
        report(s.what, err);
      }
    }
    return failed;
  }
}
