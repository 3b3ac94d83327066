import type { Duplex } from 'node:stream';

/** What the API server shows of an instance (GET /instances). */
export interface InstanceSummary {
  id: string;
  name: string;
  state: string;
  hypervisor: string;
}

/**
 * How the server finds instances and reaches their agents. The registry and the vsock
 * dialers of src/host provide it; keeping it narrow keeps the server testable.
 */
export interface InstanceDirectory {
  /** The instance by id or name; undefined if there is none. Throws on an invalid id. */
  find(idOrName: string): Promise<InstanceSummary | undefined>;
  /**
   * find() without waiting, where the directory can answer at once (the registry's small
   * local files): lets the server upgrade inside uWS's own upgrade handler (see ApiServer).
   * Throws where find() rejects.
   */
  findNow?(idOrName: string): InstanceSummary | undefined;
  list(): Promise<InstanceSummary[]>;
  /**
   * Opens a byte stream to the instance's agent on vsock port 2222, retrying until
   * `waitForAgentSeconds` have passed (0: one attempt). Rejects with a CodedError of code
   * INSTANCE_NOT_RUNNING when the instance stopped meanwhile (the session then ends with that
   * code rather than AGENT_UNREACHABLE).
   */
  connectAgent(instance: InstanceSummary, waitForAgentSeconds: number, signal: AbortSignal): Promise<Duplex>;
}
