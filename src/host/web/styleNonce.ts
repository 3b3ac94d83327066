/**
 * xterm.js injects <style> elements (its DOM renderer's theme and cell sizes), which a
 * Content-Security-Policy without 'unsafe-inline' blocks, leaving the terminal unstyled. The
 * server puts a fresh nonce in each page's style-src and on the page's script tag; every
 * <style> created from then on carries it. It must be set before the element is inserted:
 * a nonce added later does not make the browser apply the sheet.
 */
export function stampStyleNonce(nonce: string): void {
  if (!nonce) return;
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function createElement(this: Document, tagName: string, options?: ElementCreationOptions) {
    const element = create.call(this, tagName, options);
    if (element instanceof HTMLStyleElement) element.setAttribute('nonce', nonce);
    return element;
  } as typeof create;
}
