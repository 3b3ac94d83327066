/**
 * Callers waiting for a condition to change (credit, a drained socket, the end): each
 * `wait()` resolves at the next `wake()`, and the caller checks its condition again.
 */
export class WaitList {
  #waiters: Array<() => void> = [];

  /** How many wait now. */
  get size(): number {
    return this.#waiters.length;
  }

  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Resolves every wait so far. */
  wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
