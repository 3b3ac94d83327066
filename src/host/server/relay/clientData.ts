/**
 * Largest Stdout/Stderr payload in one message to the client: the message (with our 5-byte
 * header and WebSocket's 4) stays under uWebSockets.js's 16 KiB cork buffer. uWebSockets.js
 * sends a message of 16 KiB or more by other paths than small ones, and under backpressure
 * one of them now and then wrote a message's WebSocket header twice (seen on the raw TCP
 * stream): 3 of 36 sessions reading 512 MiB at 10 MB/s, four at a time, with 64 KiB
 * messages; none of 48 with these. Spec §8.1 lets a server split data frames.
 */
export const CLIENT_DATA_CHUNK = 16 * 1024 - 16;

/** Copies a view that dies with its handler (uWS messages, reused socket buffers). */
export function copy(view: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(view);
}
