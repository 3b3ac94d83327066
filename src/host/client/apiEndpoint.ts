import { InvalidApiUrlError } from './errors.js';

/**
 * The URL of `path` (e.g. `/instances`) on the API server at `apiUrl` (http, https, ws or
 * wss, possibly with a path prefix of a proxy), for an HTTP request or a WebSocket.
 */
export function apiEndpoint(apiUrl: string, path: string, kind: 'http' | 'ws'): URL {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch (err) {
    throw new InvalidApiUrlError(apiUrl, err);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new InvalidApiUrlError(apiUrl, new Error(`the scheme ${url.protocol} is not http, https, ws or wss`));
  }
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  url.protocol = kind === 'ws' ? (secure ? 'wss:' : 'ws:') : secure ? 'https:' : 'http:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = '';
  return url;
}
