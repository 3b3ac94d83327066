// The entry esbuild bundles into dist/cli/hypeman-exec.cjs (scripts/build-bins.ts). The
// launcher dist/bin/hypeman-exec compiles that file with a V8 code cache and calls main.
export { runCliProcess as main } from './runCliProcess.js';
