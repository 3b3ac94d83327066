import type { Principal } from '../TokenVerifier.js';

/** Who asks to read which recording. */
export interface RecordingReadRequest {
  principal: Principal;
  /** The session's owner, from the recording's header. */
  owner: string;
  /** The instance the session ran on (already one the token may use). */
  instance: string;
}

/**
 * May this token read this recording? Its subject must own the session. The one place the
 * rule lives: a claim that lets a token observe an instance's sessions extends it here.
 */
export function mayReadRecording({ principal, owner }: RecordingReadRequest): boolean {
  return principal.subject === owner;
}
