// The agent's command line: help, refused addresses, listen failures, several listeners.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentProcess, runAgentCli } from './agentProcess.js';
import { ExecConnection, runCommand } from './execClient.js';

const agentCli = (args: string[]) => runAgentCli(args);

describe('hypeman-exec-agent command line', () => {
  it('--help describes the options and exits 0', () => {
    const r = agentCli(['--help']);
    assert.equal(r.status, 0);
    for (const option of ['--listen', '--root', '--max-sessions', '--default-cwd', '--log-level', '--env']) assert.ok(r.stdout.includes(option), option);
  });

  it('refuses to listen on a TCP address that is not loopback', () => {
    const r = agentCli(['--listen', 'tcp:0.0.0.0:2222']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0.*loopback only/);
  });

  it('says why it cannot listen and exits non-zero', () => {
    const r = agentCli(['--listen', 'unix:/no/such/dir/agent.sock']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot listen on unix:\/no\/such\/dir\/agent\.sock: .*directory does not exist/);
  });

  it('says where the exec helper was looked for when it is missing', () => {
    const r = agentCli(['--listen', 'unix:/tmp/unused.sock', '--spawn-helper', '/no/such/helper']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /exec helper hypeman-exec-spawn is not at \/no\/such\/helper/);
  });

  it('rejects unknown options and bad numbers', () => {
    assert.equal(agentCli(['--bogus']).status, 2);
    assert.equal(agentCli(['--max-sessions', '0']).status, 2);
    assert.equal(agentCli(['--default-cwd', 'relative']).status, 2);
    assert.equal(agentCli(['--env', 'NOEQUALS']).status, 2);
  });

  it('serves on several listeners at once, loopback TCP among them', async () => {
    const agent = await AgentProcess.start({ args: ['--listen', 'tcp:127.0.0.1:0'] });
    try {
      const tcp = /"address":"tcp:127\.0\.0\.1:(\d+)"/.exec(agent.log);
      assert.ok(tcp, agent.log);
      const overUnix = await runCommand(agent.socketPath, { argv: ['echo', 'unix'] });
      assert.equal(overUnix.stdout.toString(), 'unix\n');
      const c = await ExecConnection.openTcp(Number(tcp[1]));
      c.start({ argv: ['echo', 'tcp'] });
      c.closeStdin();
      const overTcp = await c.finish();
      c.destroy();
      assert.equal(overTcp.stdout.toString(), 'tcp\n');
    } finally {
      await agent.stop();
    }
  });
});
