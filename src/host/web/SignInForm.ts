import { h } from './dom.js';
import { saveToken } from './token.js';

/**
 * Asks for a token when the page has none (or the server refused it): pasted here, it is kept
 * in this tab's sessionStorage, like one arriving in a link's fragment.
 */
export function signInForm(why: string, signedIn: () => void): HTMLElement {
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', spellcheck: 'false', placeholder: 'eyJhbGciOi…', required: '' });
  const form = h(
    'form',
    { id: 'sign-in', class: 'panel' },
    h('h2', {}, 'Sign in'),
    h('p', { id: 'sign-in-reason' }, why),
    h('label', { for: 'token' }, 'Bearer token'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    h(
      'p',
      { class: 'hint' },
      'The token stays in this tab (sessionStorage) and goes only to this server. ',
      h('code', {}, 'npm start'),
      ' prints a link that carries one; a deployment mints them with ',
      h('code', {}, 'hypeman-exec-server token'),
      '.',
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    saveToken(input.value);
    signedIn();
  });
  queueMicrotask(() => input.focus());
  return form;
}
