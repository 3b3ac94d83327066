/** What a path of the page shows: the instance list, one instance's terminal, or a recording's player. */
export type Route = { view: 'list' } | { view: 'terminal'; instance: string } | { view: 'player'; instance: string; session: string };

const TERMINAL_PATH = /^(.*\/)instances\/([^/]+)\/terminal\/?$/;
const PLAYER_PATH = /^(.*\/)instances\/([^/]+)\/sessions\/([^/]+)\/player\/?$/;

/**
 * The route of `pathname`, and the path the API lives under (`/` unless a proxy mounts the
 * server under a prefix and strips it): every URL the page uses is built from it.
 */
export function routeOf(pathname: string): { base: string; route: Route } {
  const terminal = TERMINAL_PATH.exec(pathname);
  if (terminal) return { base: terminal[1], route: { view: 'terminal', instance: decodeURIComponent(terminal[2]) } };
  const player = PLAYER_PATH.exec(pathname);
  if (player) return { base: player[1], route: { view: 'player', instance: decodeURIComponent(player[2]), session: decodeURIComponent(player[3]) } };
  return { base: pathname.slice(0, pathname.lastIndexOf('/') + 1), route: { view: 'list' } };
}

export function instanceApiPath(base: string, instance?: string): string {
  return instance === undefined ? `${base}instances` : `${base}instances/${encodeURIComponent(instance)}`;
}

export function terminalPath(base: string, instance: string): string {
  return `${instanceApiPath(base, instance)}/terminal`;
}

/** GET /instances/{id}/sessions/{sid}/recording: the session's asciicast file. */
export function recordingApiPath(base: string, instance: string, session: string): string {
  return `${instanceApiPath(base, instance)}/sessions/${encodeURIComponent(session)}/recording`;
}

/** The exec WebSocket's absolute URL (a WebSocket needs one), on the page's own origin. */
export function execSocketUrl(base: string, instance: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${instanceApiPath(base, instance)}/exec`;
}

/** The terminal page watching a session read-only (spec §10.11): `?watch=<session id>`. */
export function watchPath(base: string, instance: string, sessionId: string): string {
  return `${terminalPath(base, instance)}?watch=${sessionId}`;
}

/** The session the page is asked to watch, if any: 32 hex digits in `?watch=`. */
export function watchedSession(search: string): string | undefined {
  const id = new URLSearchParams(search).get('watch');
  return id !== null && /^[0-9a-f]{32}$/i.test(id) ? id.toLowerCase() : undefined;
}
