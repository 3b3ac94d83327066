// The simulated hypervisor socket (HybridVsockMux) in a process of its own, as a real VMM
// is: node dist/bench/mux-process.js SOCKET PORT=AGENT_SOCKET…
import { HybridVsockMux } from '../src/host/local/HybridVsockMux.js';

const [socketPath, ...routes] = process.argv.slice(2);
const ports: Record<number, string> = {};
for (const route of routes) {
  const eq = route.indexOf('=');
  ports[Number(route.slice(0, eq))] = route.slice(eq + 1);
}
const mux = new HybridVsockMux({ socketPath, ports });
await mux.listen();
process.stdout.write('mux ready\n');
process.once('SIGTERM', () => void mux.close().then(() => process.exit(0)));
