import { ApiError } from '../errors.js';

export class RecordingNotFoundError extends ApiError {
  constructor(instance: string, session: string, why = '') {
    super(
      404,
      'RECORDING_NOT_FOUND',
      why || `no recording of session ${JSON.stringify(session.slice(0, 64))} on instance ${instance}; session ids are 32 hex digits (GET /instances/{id}/sessions), and only sessions with a terminal are recorded`,
    );
  }
}

export class RecordingForbiddenError extends ApiError {
  constructor(session: string) {
    super(403, 'RECORDING_FORBIDDEN', `the recording of session ${session} belongs to another subject; only the session's owner may read it`);
  }
}
