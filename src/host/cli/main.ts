#!/usr/bin/env node
// hypeman-exec: run a command in a microVM instance through the API server.
import { runCli } from './runCli.js';

process.on('uncaughtException', (err) => {
  // The terminal is restored by TerminalGuard's exit hook; the status says "could not run".
  process.stderr.write(`hypeman-exec: internal error: ${err.stack ?? err.message}\n`);
  process.exit(255);
});

const status = await runCli(process.argv.slice(2));
// Exit once what was written has left: stdin may still be open and reading.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))));
process.exit(status);
