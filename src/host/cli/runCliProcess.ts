import { type CliHooks, runCli } from './runCli.js';

/**
 * The CLI as a process: runs `argv`, then exits with its status once what it wrote has left
 * (stdin may still be open and reading). Shared by the compiled entry (main.ts) and the
 * bundled one (bundleEntry.ts).
 */
export async function runCliProcess(argv: string[], hooks: CliHooks = {}): Promise<never> {
  process.on('uncaughtException', (err) => {
    // The terminal is restored by TerminalGuard's exit hook; the status says "could not run".
    process.stderr.write(`hypeman-exec: internal error: ${err.stack ?? err.message}\n`);
    process.exit(255);
  });
  const status = await runCli(argv, process, hooks);
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))));
  process.exit(status);
}
