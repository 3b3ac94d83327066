/** Copies a view that dies with its handler (uWS messages, reused socket buffers). */
export function copy(view: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(view);
}
