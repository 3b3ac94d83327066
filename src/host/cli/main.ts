#!/usr/bin/env node
// hypeman-exec, as tsc compiles it (dist/src/host/cli/main.js). What users run is the one-file
// bundle of bundleEntry.ts behind dist/bin/hypeman-exec (scripts/build-bins.ts), which starts
// faster; both run the same code.
import { runCliProcess } from './runCliProcess.js';

await runCliProcess(process.argv.slice(2));
