import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { findProjectRoot } from '../projectRoot.js';

/** An HTTP answer the server writes as it is. */
export interface WebResponse {
  status: number;
  headers: ReadonlyArray<readonly [string, string]>;
  body: string | Uint8Array;
}

/** What scripts/build-web.mjs writes beside the bundle. */
interface WebManifest {
  script: string;
  style: string;
}

interface Asset {
  type: string;
  body: Uint8Array;
  gzip: Uint8Array;
}

const ASSET_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Asset names carry their content's hash: a name never changes content, so caches keep it. */
const ASSET_CACHE = 'public, max-age=31536000, immutable';

const COMMON_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['x-content-type-options', 'nosniff'],
  ['referrer-policy', 'no-referrer'],
];

/**
 * The page's policy: its own script only (no inline script, no eval), connections only to its
 * own origin (the API and the exec WebSocket), styles from its own files plus the <style>
 * elements xterm.js creates, which carry this response's nonce (src/host/web/styleNonce.ts).
 */
function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The browser terminal (src/host/web) as the API server serves it: one HTML page for `/` and
 * `/instances/{id}/terminal`, made per response (a fresh CSP nonce, never cached), and the
 * bundle's hashed files under `/assets/`, held in memory with their gzip, cached for good.
 */
export class WebPages {
  readonly #manifest: WebManifest | null;
  readonly #assets: ReadonlyMap<string, Asset>;
  readonly #missing: string;

  private constructor(manifest: WebManifest | null, assets: ReadonlyMap<string, Asset>, missing: string) {
    this.#manifest = manifest;
    this.#assets = assets;
    this.#missing = missing;
  }

  /**
   * The bundle in `dir` (default: dist/web of the checkout). When it is not there, the pages
   * answer 503 saying how to build it; the rest of the API works as before.
   */
  static load(dir?: string): WebPages {
    let webDir: string;
    try {
      webDir = dir ?? join(findProjectRoot(), 'dist/web');
    } catch (err) {
      return WebPages.#unbuilt(`the browser terminal cannot be found (${(err as Error).message})`);
    }
    const manifestPath = join(webDir, 'manifest.json');
    if (!existsSync(manifestPath)) return WebPages.#unbuilt(`the browser terminal is not built (no ${manifestPath}); run npm run build`);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as WebManifest;
    const assets = new Map<string, Asset>();
    for (const name of [manifest.script, manifest.style]) {
      const body = readFileSync(join(webDir, 'assets', name));
      assets.set(name, { type: ASSET_TYPES[name.slice(name.lastIndexOf('.'))], body, gzip: gzipSync(body, { level: 9 }) });
    }
    return new WebPages(manifest, assets, '');
  }

  static #unbuilt(reason: string): WebPages {
    return new WebPages(null, new Map(), reason);
  }

  /** Why the pages answer 503, or '' when they are built. */
  get missing(): string {
    return this.#missing;
  }

  /** The page for `path` (its asset links relative to it, so a proxy may mount it under a prefix). */
  page(path: string): WebResponse {
    if (!this.#manifest) {
      return { status: 503, headers: [['content-type', 'text/plain; charset=utf-8'], ['cache-control', 'no-store'], ...COMMON_HEADERS], body: `${this.#missing}\n` };
    }
    const nonce = randomBytes(18).toString('base64');
    const up = '../'.repeat(Math.max(0, path.split('/').length - 2));
    const body = [
      '<!doctype html>',
      '<html lang="en">',
      '<head>',
      '<meta charset="utf-8">',
      '<meta name="viewport" content="width=device-width, initial-scale=1">',
      '<title>hypeman-exec</title>',
      `<link rel="stylesheet" href="${up}assets/${this.#manifest.style}">`,
      // The nonce is for the <style> elements the script creates; the script itself is 'self'.
      `<script src="${up}assets/${this.#manifest.script}" nonce="${nonce}" defer></script>`,
      '</head>',
      '<body><noscript>The hypeman-exec terminal needs JavaScript.</noscript></body>',
      '</html>',
      '',
    ].join('\n');
    return {
      status: 200,
      headers: [
        ['content-type', 'text/html; charset=utf-8'],
        ['cache-control', 'no-store'],
        ['content-security-policy', contentSecurityPolicy(nonce)],
        ['cross-origin-opener-policy', 'same-origin'],
        ['x-frame-options', 'DENY'],
        ...COMMON_HEADERS,
      ],
      body,
    };
  }

  /** A bundle file by name, gzipped when the client accepts it; null when there is none. */
  asset(name: string, acceptEncoding: string): WebResponse | null {
    const asset = this.#assets.get(name);
    if (!asset) return null;
    const gzip = /\bgzip\b/i.test(acceptEncoding);
    return {
      status: 200,
      headers: [
        ['content-type', asset.type],
        ['cache-control', ASSET_CACHE],
        ['vary', 'accept-encoding'],
        ...(gzip ? ([['content-encoding', 'gzip']] as const) : []),
        ...COMMON_HEADERS,
      ],
      body: gzip ? asset.gzip : asset.body,
    };
  }
}
