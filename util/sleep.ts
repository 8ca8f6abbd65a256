/**
 * The one `sleep` and the one event-loop yield of the project.
 *
 * @module
 */

/**
 * Resolve on a later macrotask (after pending I/O and timers had their turn). It costs 1–4 ms of
 * timer granularity, so loops yield by time or by a large count, not per item.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

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
