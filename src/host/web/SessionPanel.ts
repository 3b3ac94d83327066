import { type InstanceInfo, getJson } from './api.js';
import { h } from './dom.js';
import { instanceApiPath, watchPath } from './routes.js';
import type { SessionSummary } from './wire.js';

/**
 * The sessions the token's subject has on the running instances (GET /instances/{id}/sessions),
 * each running one with a link to watch it read-only (spec §10.11). An instance whose agent
 * keeps no sessions, or cannot be asked, is left out: the list is a convenience.
 */
export async function sessionPanel(base: string, instances: InstanceInfo[], token: string): Promise<HTMLElement | null> {
  const running = instances.filter((i) => i.state === 'running');
  const lists = await Promise.all(
    running.map((i) => getJson<SessionSummary[]>(`${instanceApiPath(base, i.id)}/sessions`, token).then((sessions) => ({ instance: i, sessions }), () => ({ instance: i, sessions: [] }))),
  );
  const rows = lists.flatMap(({ instance, sessions }) =>
    sessions.map((s) =>
      h(
        'tr',
        {},
        h('td', {}, instance.name ?? instance.id),
        h('td', { class: 'mono' }, s.id.slice(0, 12)),
        h('td', { class: 'mono' }, s.argv.join(' ')),
        h('td', {}, s.state),
        h('td', {}, s.state === 'exited' ? '' : h('a', { href: watchPath(base, instance.id, s.id), class: 'watch' }, 'watch')),
      ),
    ),
  );
  if (rows.length === 0) return null;
  return h(
    'section',
    { class: 'panel', id: 'sessions' },
    h('h2', {}, 'Your sessions'),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'instance'), h('th', {}, 'session'), h('th', {}, 'command'), h('th', {}, 'state'), h('th', {}, ''))), h('tbody', {}, ...rows)),
    h('p', { class: 'hint' }, 'Watch shows a session as it runs, read-only: your keys go nowhere.'),
  );
}
