/**
 * Which browser origins may open sessions (spec §8.3). Requests without an Origin header
 * (CLIs, servers) are not browser requests and pass; browsers always send one. The
 * default allows only the server's own origin — never "any origin", as the original did.
 */
export class OriginPolicy {
  readonly #allowed: Set<string>;
  readonly #any: boolean;

  constructor(allowedOrigins: readonly string[] = []) {
    this.#any = allowedOrigins.includes('*');
    this.#allowed = new Set(allowedOrigins.filter((o) => o !== '*').map(normaliseOrigin));
  }

  /** `host` is the request's Host header: the server's own origin is allowed by default. */
  allows(origin: string, host: string): boolean {
    if (origin === '') return true;
    if (this.#any) return true;
    const o = normaliseOrigin(origin);
    if (this.#allowed.has(o)) return true;
    return host !== '' && (o === `http://${host.toLowerCase()}` || o === `https://${host.toLowerCase()}`);
  }
}

function normaliseOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, '');
}
