import type { IncomingMessage } from 'node:http';
import { MalformedFrameError, type SessionSummary, sessionSummaries } from '../../wire/index.js';
import { apiEndpoint } from './apiEndpoint.js';
import { ApiRefusedError, ApiUnreachableError, ClientProtocolError } from './errors.js';

/** An instance as the API server shows it (`GET /instances`, `GET /instances/{id}`). */
export interface ApiInstance {
  id: string;
  name: string;
  state: string;
  hypervisor: string;
}

/** Where the API server is and the token to show it. */
export interface ApiConnection {
  apiUrl: string;
  token?: string;
  /** Give up after this long (default 30 s): ApiUnreachableError. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** An answer larger than this is not one of ours. */
const MAX_BODY = 16 * 1024 * 1024;

/** The instances the token may use. Rejects with ApiRefusedError (401, 403…) or ApiUnreachableError. */
export async function listInstances(api: ApiConnection): Promise<ApiInstance[]> {
  const body = await getJson(api, '/instances');
  if (!Array.isArray(body) || !body.every(isApiInstance)) throw new ClientProtocolError(`GET /instances on ${api.apiUrl} did not answer a list of instances`);
  return body;
}

/** One instance by id or name. Rejects as listInstances, and with ApiRefusedError 404 INSTANCE_NOT_FOUND. */
export async function getInstance(api: ApiConnection, idOrName: string): Promise<ApiInstance> {
  const body = await getJson(api, `/instances/${encodeURIComponent(idOrName)}`);
  if (!isApiInstance(body)) throw new ClientProtocolError(`GET /instances/${idOrName} on ${api.apiUrl} did not answer an instance`);
  return body;
}

/**
 * The sessions the token's subject has on an instance (`GET /instances/{id}/sessions`,
 * spec §10.8): running, detached, or ended and kept for a resume.
 */
export async function listApiSessions(api: ApiConnection, idOrName: string): Promise<SessionSummary[]> {
  const body = await getJson(api, `/instances/${encodeURIComponent(idOrName)}/sessions`);
  try {
    return sessionSummaries(body);
  } catch (err) {
    if (err instanceof MalformedFrameError) throw new ClientProtocolError(`GET /instances/${idOrName}/sessions on ${api.apiUrl} did not answer a list of sessions: ${err.message}`);
    throw err;
  }
}

function isApiInstance(value: unknown): value is ApiInstance {
  const v = value as Partial<Record<keyof ApiInstance, unknown>> | null;
  return typeof v === 'object' && v !== null && ['id', 'name', 'state', 'hypervisor'].every((key) => typeof v[key as keyof ApiInstance] === 'string');
}

async function getJson(api: ApiConnection, path: string): Promise<unknown> {
  const url = apiEndpoint(api.apiUrl, path, 'http');
  // https (and tls with it) only for an https URL: it is slow to load.
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: api.token ? { authorization: `Bearer ${api.token}` } : {}, timeout: api.timeoutMs ?? DEFAULT_TIMEOUT_MS });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${(api.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s`)));
    req.once('error', (err) => reject(new ApiUnreachableError(url.toString(), err)));
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) req.destroy(new Error(`the answer is larger than ${MAX_BODY} bytes`));
        else chunks.push(chunk);
      });
      res.once('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          reject(ApiRefusedError.fromResponse(status, body));
          return;
        }
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new ClientProtocolError(`GET ${path} on ${api.apiUrl} answered something that is not JSON`));
        }
      });
    });
    req.end();
  });
}
