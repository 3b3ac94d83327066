// Where the page keeps its bearer token: sessionStorage, so it lives as long as the tab and is
// never sent by the browser on its own (no cookie), only by the page as the WebSocket's
// `bearer.` subprotocol and the Authorization header of its API requests (spec §8.3).
const KEY = 'hypeman-exec.token';

/**
 * A link like `…/terminal#token=eyJ…` carries the token in the fragment, which browsers never
 * send to a server or a proxy. Takes it into sessionStorage, then removes it from the address
 * bar and the history, so it is not bookmarked or shared with the URL.
 */
export function adoptFragmentToken(): boolean {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token === null) return false;
  if (token.trim()) saveToken(token);
  history.replaceState(history.state, '', location.pathname + location.search);
  return token.trim() !== '';
}

export function savedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token.trim());
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
