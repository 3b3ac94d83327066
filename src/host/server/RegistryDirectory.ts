import type { Duplex } from 'node:stream';
import { dialWithRetry } from '../dial/dialWithRetry.js';
import { dialerFor } from '../dial/dialerFor.js';
import type { InstanceRegistry } from '../registry/InstanceRegistry.js';
import type { InstanceRecord } from '../registry/InstanceRecord.js';
import { InstanceNotRunningError } from '../registry/errors.js';
import type { InstanceDirectory, InstanceSummary } from './InstanceDirectory.js';

function summary(r: InstanceRecord): InstanceSummary {
  return { id: r.id, name: r.name, state: r.state, hypervisor: r.hypervisor };
}

/** The API server's view of the instance registry and the vsock dialers. */
export class RegistryDirectory implements InstanceDirectory {
  readonly #registry: InstanceRegistry;

  constructor(registry: InstanceRegistry) {
    this.#registry = registry;
  }

  async find(idOrName: string): Promise<InstanceSummary | undefined> {
    return this.findNow(idOrName);
  }

  findNow(idOrName: string): InstanceSummary | undefined {
    const r = this.#registry.findNow(idOrName);
    return r && summary(r);
  }

  async list(): Promise<InstanceSummary[]> {
    return (await this.#registry.list()).map(summary);
  }

  async connectAgent(instance: InstanceSummary, waitForAgentSeconds: number, signal: AbortSignal): Promise<Duplex> {
    // Re-read: the record may have changed since the upgrade was authorised.
    const record = await this.#running(instance.id);
    try {
      // The relay consumes every chunk at once: its reads can share one buffer.
      return await dialWithRetry(dialerFor(record, { sharedReads: true }), { timeoutSeconds: waitForAgentSeconds, signal });
    } catch (err) {
      // An agent that stopped answering because its instance stopped is told as such.
      await this.#running(instance.id);
      throw err;
    }
  }

  async #running(id: string): Promise<InstanceRecord> {
    const record = await this.#registry.get(id);
    if (record.state !== 'running') throw new InstanceNotRunningError(record.id, record.state);
    return record;
  }
}
