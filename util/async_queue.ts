/**
 * A tiny unbounded async queue with close: `next()` waits for an item, or resolves `null` once closed.
 * (Its size is bounded by the QUIC stream limits of the connection feeding it.)
 *
 * @module
 */

/** An async FIFO whose consumers see `null` after {@link AsyncQueue.close}. */
export class AsyncQueue<T> {
  readonly #items: T[] = [];
  readonly #waiters: Array<(item: T | null) => void> = [];
  #closed = false;

  /** Add an item; returns false (and drops it) when the queue is closed. */
  push(item: T): boolean {
    if (this.#closed) return false;
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
    return true;
  }

  /** The next item, or `null` once closed. */
  next(): Promise<T | null> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift()!);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Close: waiters get `null`; returns the items nobody took. */
  close(): T[] {
    if (this.#closed) return [];
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter(null);
    return this.#items.splice(0);
  }

  /** Items waiting. */
  get size(): number {
    return this.#items.length;
  }
}
