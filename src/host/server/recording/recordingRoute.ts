import type { HttpResponse } from 'uWebSockets.js';
import type { InstanceSummary } from '../InstanceDirectory.js';
import type { Principal } from '../TokenVerifier.js';
import { RecordingForbiddenError, RecordingNotFoundError } from './errors.js';
import { mayObserve } from '../ObservePolicy.js';
import type { RecordingStore } from './RecordingStore.js';
import { serveRecording } from './serveRecording.js';

export interface RecordingRequest {
  /** Authenticates the token and finds the instance it may use (the server's usual checks). */
  authorize(): Promise<{ principal: Principal; instance: InstanceSummary }>;
  /** The session id as given in the path. */
  session: string;
  fail(state: { aborted: boolean }, err: unknown): void;
}

/**
 * `GET /instances/{id}/sessions/{sid}/recording`: the session's asciicast file, to a token
 * that may use the instance and may watch the session (ObservePolicy.ts: its owner, or a token
 * whose `observe` claim covers the instance). 404 when this server records nothing, when
 * there is no such file, or when the file is another instance's; 403 when it belongs to
 * another subject and the token may not observe the instance.
 */
export function recordingRoute(res: HttpResponse, store: RecordingStore | undefined, request: RecordingRequest): void {
  const state = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
  });
  const { session } = request;
  (async () => {
    const { principal, instance } = await request.authorize();
    if (!store) throw new RecordingNotFoundError(instance.id, session, 'this server records no sessions; start it with --record-dir DIR to record TTY sessions');
    const recording = await store.find(session.toLowerCase());
    if (!recording || recording.header.hypeman?.instance !== instance.id) throw new RecordingNotFoundError(instance.id, session);
    if (!mayObserve(principal, instance, recording.header.hypeman.owner)) throw new RecordingForbiddenError(session);
    return recording;
  })().then(
    (recording) => {
      if (!state.aborted) serveRecording(res, recording, state);
    },
    (err) => request.fail(state, err),
  );
}
