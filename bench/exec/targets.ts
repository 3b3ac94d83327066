// The two ways the benchmark reaches the agent with the project's client library.
import type { ExecTarget } from '../../src/host/client/index.js';
import { AGENT_PORT, type BenchStack, INSTANCE } from '../BenchStack.js';

export type PathName = 'api' | 'library';

export const PATH_LABELS: Record<PathName, string> = {
  api: 'API server (client → WebSocket → API server → mux → agent)',
  library: 'library (client → mux → agent)',
};

export function targetFor(stack: BenchStack, path: PathName): ExecTarget {
  return path === 'api'
    ? { apiUrl: stack.apiUrl, instance: INSTANCE, token: stack.token }
    : { socketPath: stack.vsockSocket, port: AGENT_PORT };
}
