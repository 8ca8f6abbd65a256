/**
 * Watches the relay's listeners: a listener that stops while the relay is not shutting down (its
 * accept loop died, its socket was closed under it) makes the relay unhealthy (`/health` answers
 * 503) and resolves {@link ListenerSupervisor.fatal}, so the process logs it and exits non-zero
 * for its supervisor to restart it.
 *
 * @module
 */

import { type Logger, redactedError } from "../log/mod.ts";

/** A listener stopped while the relay was running. */
export class ListenerStoppedError extends Error {
  /** The listener's name (`quic`, `http`, `https`, `internal`). */
  readonly listener: string;
  constructor(listener: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenerStoppedError";
    this.listener = listener;
  }
}

/** Turns unexpected listener ends into one fatal error and an unhealthy `/health`. */
export class ListenerSupervisor {
  readonly #signal: AbortSignal;
  readonly #log: Logger;
  readonly #fatal = Promise.withResolvers<Error>();
  #unhealthy: string | undefined;

  /** `signal` aborts when the relay shuts down on purpose (listener ends are then expected). */
  constructor(signal: AbortSignal, logger: Logger) {
    this.#signal = signal;
    this.#log = logger.child("main");
  }

  /** Resolves (never rejects) with the first unexpected listener end. */
  get fatal(): Promise<Error> {
    return this.#fatal.promise;
  }

  /** Why the relay is unhealthy, or undefined while every listener runs. */
  get unhealthy(): string | undefined {
    return this.#unhealthy;
  }

  /** Watch a listener whose `finished` settles when it stops. */
  watch(name: string, finished: Promise<unknown>): void {
    finished.then(
      () => this.#stopped(name, undefined),
      (err: unknown) => this.#stopped(name, err),
    );
  }

  #stopped(name: string, err: unknown): void {
    if (this.#signal.aborted) return;
    const why = err === undefined ? "stopped unexpectedly" : `died: ${redactedError(err)}`;
    const message = `the ${name} listener ${why}; exiting so that a supervisor restarts the relay`;
    this.#unhealthy ??= `${name} listener down`;
    this.#log.error("listener down", { listener: name, error: why });
    this.#fatal.resolve(new ListenerStoppedError(name, message, { cause: err }));
  }
}
