// The browser terminal's entry, bundled by scripts/build-web.mjs into dist/web/assets and
// served by the API server (src/host/server/WebPages.ts) at / and /instances/{id}/terminal.
import '@xterm/xterm/css/xterm.css';
import './page.css';
import { h } from './dom.js';
import { showInstanceList } from './InstanceList.js';
import { type PlayerHandle, RecordingPlayer } from './RecordingPlayer.js';
import { routeOf, watchedSession } from './routes.js';
import { stampStyleNonce } from './styleNonce.js';
import { type TerminalHandle, TerminalPage } from './TerminalPage.js';
import { adoptFragmentToken, forgetToken } from './token.js';

declare global {
  interface Window {
    hypemanTerminal?: TerminalHandle;
    hypemanPlayer?: PlayerHandle;
  }
}

stampStyleNonce((document.currentScript as HTMLScriptElement | null)?.nonce ?? '');
adoptFragmentToken();
// A link opened in a tab already on its page changes only the fragment: no new page load.
addEventListener('hashchange', () => {
  if (adoptFragmentToken()) location.reload();
});

const { base, route } = routeOf(location.pathname);
const status = h('span', { id: 'status', 'data-state': 'checking' });
const restart = h('button', { id: 'restart', type: 'button', hidden: '' });
const signOut = h('button', { id: 'sign-out', type: 'button' }, 'Sign out');
const main = h('main', { id: 'main' });
document.body.replaceChildren(
  h(
    'header',
    { id: 'bar' },
    h('a', { href: base, class: 'brand' }, 'hypeman-exec'),
    // The status belongs to a terminal or a player; the list has none.
    ...(route.view === 'list' ? [] : [h('span', { class: 'instance' }, route.instance), status]),
    h('span', { class: 'spacer' }),
    restart,
    signOut,
  ),
  main,
);
signOut.addEventListener('click', () => {
  forgetToken();
  location.assign(base);
});

if (route.view === 'terminal') {
  document.title = `${route.instance} · hypeman-exec`;
  const page = new TerminalPage(main, { status, restart }, base, route.instance, watchedSession(location.search));
  window.hypemanTerminal = page.handle;
  void page.begin();
} else if (route.view === 'player') {
  document.title = `${route.instance} · recording · hypeman-exec`;
  const player = new RecordingPlayer(main, status, base, route.instance, route.session);
  window.hypemanPlayer = player.handle;
  void player.load();
} else {
  void showInstanceList(main, base);
}
