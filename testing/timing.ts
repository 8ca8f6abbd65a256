/**
 * Waiting in tests: a promise within a deadline, a condition polled until it holds. Pure (no Deno
 * API), so the browser test pages bundle it too.
 *
 * @module
 */

export { sleep } from "../util/mod.ts";

/** Resolve `promise`, or throw after `ms` with `what` in the message. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** How often {@link eventually} polls unless told otherwise. */
export const EVENTUALLY_POLL_MS = 25;

/**
 * Poll `check` (sync or async) every `pollMs` until it returns true; throw after `timeoutMs` with
 * `what` in the message. The one polling helper of the tests.
 */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  pollMs = EVENTUALLY_POLL_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
