/**
 * A timeout whose clock stops while it is held. The end-of-output grace period (spec §9.7)
 * runs on it: time the agent spends held back by a slow reader does not count, so a slow
 * client never loses output the command had already written.
 */
export class PausableTimer {
  readonly #onExpire: () => void;
  #remaining: number;
  #runningSince = 0;
  #timer: NodeJS.Timeout | null = null;
  #held = false;
  #done = false;

  constructor(durationMs: number, onExpire: () => void, held = false) {
    this.#remaining = durationMs;
    this.#onExpire = onExpire;
    this.#held = held;
    if (!held) this.#run();
  }

  hold(): void {
    if (this.#held || this.#done) return;
    this.#held = true;
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#remaining = Math.max(0, this.#remaining - (performance.now() - this.#runningSince));
    }
  }

  release(): void {
    if (!this.#held || this.#done) return;
    this.#held = false;
    this.#run();
  }

  cancel(): void {
    this.#done = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #run(): void {
    this.#runningSince = performance.now();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#done = true;
      this.#onExpire();
    }, this.#remaining);
  }
}
