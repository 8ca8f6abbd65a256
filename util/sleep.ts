/**
 * The one `sleep` of the project.
 *
 * @module
 */

/**
 * Resolve after `ms` milliseconds, or at once when `signal` aborts (it never rejects). The timer and
 * the abort listener are always released, so a sleep never keeps a process or a signal alive after
 * it settled.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
