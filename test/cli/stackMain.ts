// A test stack (test/server/stack.ts) in a process of its own, for the CLI tests: prints
// {"url","token","agentPid"} as one line on stdout when ready, stops on SIGTERM. The server lives
// apart from the test runner, as it does for real users.
import { startStack } from '../server/stack.js';

const stack = await startStack();
process.stdout.write(`${JSON.stringify({ url: stack.url, token: stack.token, agentPid: stack.agent.pid })}\n`);
process.once('SIGTERM', () => {
  void stack.stop().then(() => process.exit(0));
});
// The server's listen socket keeps the process alive until SIGTERM.
