// The real Claude Code CLI from npm against the gateway, in print mode: a turn that reads a file
// with its Read tool and answers from the result, once passed through to an Anthropic upstream
// and once translated to a chat completions upstream, billed exactly for every request it made.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_URL, Member, nano, fakeRequests } from './gateway.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const claude = path.join(here, 'node_modules', '.bin', 'claude');

// Per request, from the fakes' usage at the claude-* prices:
//   native     50 × 3 + 8000 × 0.3 + 500 × 3.75 + 1500 × 6 + 60 × 15 = 14,325 per 1M
//   translated 200 × 3 + 1000 × 0.3 + 90 × 15 = 2,250 per 1M
const COST = { 'claude-native': nano('0.014325'), 'claude-translated': nano('0.00225') };

let member;
before(async () => {
  member = await Member.signIn();
});

function run(args, env, cwd) {
  return new Promise((resolve) => {
    execFile(claude, args, { env, cwd, timeout: 180_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr });
    });
  });
}

for (const model of ['claude-native', 'claude-translated']) {
  test(`claude -p reads a file with a tool and answers, ${model}`, async () => {
    const { id, key } = await member.newKey(`claude-${model}`);
    const work = mkdtempSync(path.join(tmpdir(), 'cr-claude-'));
    const home = mkdtempSync(path.join(tmpdir(), 'cr-claude-home-'));
    const notes = path.join(work, 'notes.txt');
    writeFileSync(notes, 'forty-two\n');
    const before = await member.balance();
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      ANTHROPIC_BASE_URL: BASE_URL,
      ANTHROPIC_AUTH_TOKEN: key,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
    };
    const { code, stdout, stderr } = await run(
      ['-p', `Read the file ${notes} and tell me what it says.`, '--model', model, '--allowedTools', 'Read'],
      env,
      work,
    );
    assert.equal(code, 0, `claude exited ${code}\n${stdout}\n${stderr}`);
    // (Claude Code's Read numbers the lines it returns.)
    assert.match(stdout, /The file says: .*forty-two/);

    // The tool ran: the file's text went back to the upstream as the tool's result.
    const upstreamPath = model === 'claude-native' ? '/anthropic/v1/messages' : '/openai/v1/chat/completions';
    const sent = JSON.stringify((await fakeRequests(upstreamPath)).map((r) => r.body.messages));
    assert.match(sent, /forty-two/);

    // Every request Claude Code made was a Messages call of this key, served and charged exactly.
    const rows = await member.logsOfKey(id, 2);
    for (const row of rows) {
      assert.equal(row.endpoint, '/messages', JSON.stringify(row));
      assert.equal(row.status, 200, JSON.stringify(row));
      assert.equal(row.model, model);
      assert.equal(nano(row.cost), COST[model], JSON.stringify(row));
    }
    assert.equal(before - (await member.balance()), COST[model] * BigInt(rows.length));
  });
}
