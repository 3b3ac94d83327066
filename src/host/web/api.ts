// The API server's endpoints (GET /instances, GET /instances/{id}, a recording), as the page uses
// them: the token in the Authorization header, refusals as the server's own code and message.

export interface InstanceInfo {
  id: string;
  name?: string;
  state: string;
  hypervisor?: string;
}

/** The server refused (401, 403, 404…) or could not be reached (status 0). */
export class ApiFailure extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function getJson<T>(path: string, token: string): Promise<T> {
  return (await (await get(path, token)).json()) as T;
}

/** A body as text (a recording). */
export async function getText(path: string, token: string): Promise<string> {
  return (await get(path, token)).text();
}

/** A GET with the token; a refusal thrown as ApiFailure. */
async function get(path: string, token: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch (err) {
    throw new ApiFailure(0, 'API_UNREACHABLE', `cannot reach the API server (${(err as Error).message}); is it running?`);
  }
  if (response.ok) return response;
  let code = `HTTP_${response.status}`;
  let message = `the server answered HTTP ${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // Not one of ours (a proxy's error page): the status line says what there is to say.
  }
  throw new ApiFailure(response.status, code, message);
}
