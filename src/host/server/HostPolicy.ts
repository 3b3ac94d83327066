import { isIP } from 'node:net';

/**
 * Which names this server answers to (the Host header), checked before anything else so a
 * DNS-rebinding page — a name of the attacker's that resolves to this server, with Host and
 * Origin both `rebind.evil:PORT` — gets 421 instead of passing the same-origin check.
 * Rebinding needs a DNS name, so IP literals are always accepted, as is `localhost`; other
 * names only when configured (`--public-host`: the names clients and proxies use).
 */
export class HostPolicy {
  readonly #names: Set<string>;
  readonly #any: boolean;

  constructor(publicHosts: readonly string[] = []) {
    this.#any = publicHosts.includes('*');
    this.#names = new Set(publicHosts.filter((h) => h !== '*').map((h) => hostnameOf(h)));
  }

  allows(host: string): boolean {
    if (this.#any) return true;
    const name = hostnameOf(host);
    if (name === '') return false;
    return name === 'localhost' || isIP(name.replace(/^\[|\]$/g, '')) !== 0 || this.#names.has(name);
  }
}

/** `Example.COM:8080` → `example.com`; `[::1]:80` → `[::1]`. */
function hostnameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return (colon < 0 ? h : h.slice(0, colon)).replace(/\.$/, '');
}
