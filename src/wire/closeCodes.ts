import { ERROR_CODE_NAMES, type ErrorCodeName } from './constants.js';

/**
 * The WebSocket carrier names the Error a session ended with in its close status too (spec
 * §8.1): 4000 + the error code, so a client whose Error frame was lost still knows why.
 */
const ERROR_CLOSE_BASE = 4000;
/** RFC 6455 leaves 4000–4999 to applications; the codes of §5 fit below 1000. */
const ERROR_CLOSE_END = 5000;

/** The close status after an Error frame with this code. */
export function closeCodeForError(wireCode: number): number {
  return ERROR_CLOSE_BASE + wireCode;
}

/**
 * The Error a close status names, or null for any other status (1000 after Exit, 1006…).
 * A code this version does not assign is named `ERROR_<n>`, as parseFrame names it.
 */
export function errorOfCloseCode(code: number): { wireCode: number; name: ErrorCodeName | `ERROR_${number}` } | null {
  if (code < ERROR_CLOSE_BASE || code >= ERROR_CLOSE_END) return null;
  const wireCode = code - ERROR_CLOSE_BASE;
  return { wireCode, name: ERROR_CODE_NAMES[wireCode] ?? `ERROR_${wireCode}` };
}
