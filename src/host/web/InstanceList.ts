import { ApiFailure, type InstanceInfo, getJson } from './api.js';
import { h } from './dom.js';
import { instanceApiPath, terminalPath } from './routes.js';
import { sessionPanel } from './SessionPanel.js';
import { signInForm } from './SignInForm.js';
import { forgetToken, savedToken } from './token.js';

/** `/`: the instances the token may use, each running one with a link to its terminal. */
export async function showInstanceList(main: HTMLElement, base: string): Promise<void> {
  const token = savedToken();
  if (!token) {
    main.replaceChildren(signInForm('Sign in to see your instances.', () => void showInstanceList(main, base)));
    return;
  }
  main.replaceChildren(h('p', { class: 'panel', id: 'message' }, 'Loading instances…'));
  let instances: InstanceInfo[];
  try {
    instances = await getJson<InstanceInfo[]>(instanceApiPath(base), token);
  } catch (err) {
    const failure = err instanceof ApiFailure ? err : new ApiFailure(0, 'INTERNAL_ERROR', (err as Error).message);
    if (failure.status === 401) {
      forgetToken();
      main.replaceChildren(signInForm(`${failure.code}: ${failure.message}`, () => void showInstanceList(main, base)));
      return;
    }
    main.replaceChildren(h('p', { class: 'panel error', id: 'message' }, `${failure.code}: ${failure.message}`));
    return;
  }
  const rows = instances.map((i) =>
    h(
      'tr',
      {},
      h('td', {}, i.state === 'running' ? h('a', { href: terminalPath(base, i.id) }, i.name ?? i.id) : (i.name ?? i.id)),
      h('td', { class: 'mono' }, i.id),
      h('td', { class: `state ${i.state}` }, i.state),
      h('td', {}, i.hypervisor ?? ''),
    ),
  );
  main.replaceChildren(
    h(
      'section',
      { class: 'panel', id: 'instances' },
      h('h2', {}, 'Instances'),
      instances.length === 0
        ? h('p', {}, 'This token may use no instance.')
        : h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'name'), h('th', {}, 'id'), h('th', {}, 'state'), h('th', {}, 'hypervisor'))), h('tbody', {}, ...rows)),
      h('p', { class: 'hint' }, 'A running instance opens a shell (/bin/sh) in a terminal.'),
    ),
  );
  const sessions = await sessionPanel(base, instances, token);
  if (sessions) main.append(sessions);
}
