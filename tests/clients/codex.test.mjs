// The real Codex CLI from npm (@openai/codex, pinned in package.json) against the gateway, in
// `codex exec`: a turn that reads a file with its shell tool and answers from the output, once
// passed through to an upstream serving the Responses API (gpt-native) and once translated to a
// chat completions upstream (gpt-fake), billed exactly for every request it made.
//
// What Codex 0.171.0 sends, as captured against a bare Responses server (a custom provider with
// wire_api = "responses", key from env_key):
// - Only `POST {base_url}/responses`, streamed (`stream: true`, `accept: text/event-stream`);
//   no `/models`, no `/responses/compact`: a custom provider's auto-compaction is one more
//   `/responses` request (no tools, a "CONTEXT CHECKPOINT COMPACTION" prompt last, and
//   `"request_kind":"compaction"` in the `x-codex-turn-metadata` header).
// - Body: model, stream, input, tools, tool_choice "auto", parallel_tool_calls true,
//   reasoning {summary: "auto"}, store false, include ["reasoning.encrypted_content"],
//   prompt_cache_key (the session id), client_metadata; no `instructions`: its prompt is a
//   `developer` message in `input`. Headers: authorization Bearer <env_key's value>, session-id,
//   thread-id, x-client-request-id, originator codex_exec, x-codex-turn-metadata,
//   x-codex-window-id, x-codex-beta-features. Input messages carry ids (`msg_…`).
// - Tools: functions `exec_command` (the shell: `{cmd, workdir?, login?, tty?, shell?,
//   yield_time_ms?, max_output_tokens?, justification?, sandbox_permissions?, prefix_rule?}`,
//   only `cmd` required), `write_stdin`, `request_user_input`, `view_image`, goals tools; a
//   `{"type":"namespace","name":"multi_agent_v1","tools":[…]}` of functions; and the built-in
//   `{"type":"web_search","external_web_access":true}`.
// - After a tool call the next request's input ends with the answer's items as Codex got them
//   (a `reasoning` item with its encrypted_content, then the `function_call` with its id, call_id,
//   name, arguments) and `{"type":"function_call_output","id":"fco_…","call_id":…,"output":
//   "Chunk ID: …\nWall time: …\nProcess exited with code 0\nOriginal token count: 3\nOutput:\n
//   forty-two\n"}`; no previous_response_id (store: false).
// - To exit 0 it needs each answer's items in `response.output_item.done` events and a closing
//   `response.completed` (with the response's id and usage); a stream that ends without it is
//   "stream disconnected before completion: stream closed before response.completed", retried
//   (stream_max_retries), then exit 1. The final message is printed on stdout (and written to `-o FILE`).
// - Quiet: `[analytics] enabled = false`, `[feedback] enabled = false`,
//   `check_for_update_on_startup = false`, and features plugins, remote_plugin and apps off; with
//   those it connects to nothing but base_url (seen with strace: no DNS look-up at all; with the
//   defaults it looks up github.com, api.github.com and chatgpt.com). The retries are set to 0 so
//   a failure shows at once, as itself, and is not repeated into more log rows.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE_URL, Member, nano, fakeRequests } from './gateway.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const codex = path.join(here, 'node_modules', '.bin', 'codex');

// Per request, from the fake's usage at the models' prices (both input 2, output 8, cache_read 0.5):
//   gpt-native, the Responses usage: 400 × 2 + 2000 × 0.5 + 150 × 8 = 3,000 per 1M
//   gpt-fake, the chat usage:        200 × 2 + 1000 × 0.5 +  90 × 8 = 1,620 per 1M
const COST = { 'gpt-native': nano('0.003'), 'gpt-fake': nano('0.00162') };
const UPSTREAM = { 'gpt-native': '/openai/v1/responses', 'gpt-fake': '/openai/v1/chat/completions' };
const OTHER = { 'gpt-native': '/openai/v1/chat/completions', 'gpt-fake': '/openai/v1/responses' };

let member;
before(async () => {
  member = await Member.signIn();
});

/** $CODEX_HOME/config.toml: the gateway as a custom Responses provider, nothing else reached. */
const config = (model) => `model = "${model}"
model_provider = "code-router"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false

[model_providers.code-router]
name = "Code Router"
base_url = "${BASE_URL}/v1"
wire_api = "responses"
env_key = "CODE_ROUTER_API_KEY"
request_max_retries = 0
stream_max_retries = 0
`;

function run(args, env, cwd) {
  return new Promise((resolve) => {
    // stdin closed: `codex exec` reads a piped stdin to its end before it starts.
    const child = spawn(codex, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

/** `codex exec` asked to read notes.txt (which says forty-two) in a fresh workdir, with a fresh
 * $HOME and $CODEX_HOME, as `model` with `key`; or asked `prompt` instead, given. */
async function readNotes(model, key, prompt = null) {
  const work = mkdtempSync(path.join(tmpdir(), 'cr-codex-'));
  const home = mkdtempSync(path.join(tmpdir(), 'cr-codex-home-'));
  const codexHome = path.join(home, '.codex');
  const notes = path.join(work, 'notes.txt');
  const last = path.join(home, 'last-message.txt');
  writeFileSync(notes, 'forty-two\n');
  mkdirSync(codexHome);
  writeFileSync(path.join(codexHome, 'config.toml'), config(model));
  const env = { PATH: process.env.PATH, HOME: home, CODEX_HOME: codexHome, CODE_ROUTER_API_KEY: key };
  const result = await run(
    [
      'exec',
      '--strict-config',
      '--color', 'never',
      '--skip-git-repo-check',
      '--dangerously-bypass-approvals-and-sandbox',
      '-C', work,
      '-o', last,
      prompt ?? `Read the file ${notes} and tell me what it says.`,
    ],
    env,
    work,
  );
  return { ...result, notes, last };
}

for (const model of ['gpt-native', 'gpt-fake']) {
  test(`codex exec reads a file with its shell tool and answers, ${model}`, async () => {
    const { id, key } = await member.newKey(`codex-${model}`);
    const sentBefore = (await fakeRequests(UPSTREAM[model])).length;
    const otherBefore = (await fakeRequests(OTHER[model])).length;
    const before = await member.balance();
    const { code, stdout, stderr, notes, last } = await readNotes(model, key);
    assert.equal(code, 0, `codex exited ${code}\n${stdout}\n${stderr}`);
    const answer = readFileSync(last, 'utf8');
    assert.match(answer, /The file says: .*forty-two/, `${answer}\n${stderr}`);
    assert.match(stdout, /The file says: .*forty-two/);

    // Two upstream requests: the turn that called the tool, and the one shown its output; all of
    // them at the upstream this model's kind speaks, none at the other.
    const sent = (await fakeRequests(UPSTREAM[model])).slice(sentBefore).map((r) => r.body);
    assert.equal(sent.length, 2, JSON.stringify(sent.map((b) => b.input ?? b.messages)).slice(0, 2000));
    assert.equal((await fakeRequests(OTHER[model])).length, otherBefore);
    for (const body of sent) assert.equal(body.model, model);
    if (model === 'gpt-native') {
      // Passed through: Codex's own body, its tool, and the items of the first answer sent back
      // (the opaque reasoning item too) with the command's output.
      const [first, second] = sent;
      assert.ok(first.tools.some((t) => t.type === 'function' && t.name === 'exec_command'));
      assert.equal(first.stream, true);
      const input = second.input;
      const output = input[input.length - 1];
      assert.equal(output.type, 'function_call_output', JSON.stringify(input.slice(-3)));
      assert.match(output.output, /forty-two/);
      const call = input.find((i) => i.type === 'function_call');
      assert.equal(call.call_id, output.call_id);
      assert.deepEqual(JSON.parse(call.arguments), { cmd: `cat ${notes}` });
      assert.ok(input.some((i) => i.type === 'reasoning' && i.encrypted_content), 'the reasoning item went back');
    } else {
      // Translated: the shell tool offered as a chat function of the same name, its call and
      // result as chat messages.
      const [first, second] = sent;
      assert.ok(first.tools.some((t) => t.type === 'function' && t.function.name === 'exec_command'), JSON.stringify(first.tools.map((t) => t.function?.name)));
      assert.equal(first.stream, true);
      assert.deepEqual(first.stream_options, { include_usage: true });
      const messages = second.messages;
      const result = messages[messages.length - 1];
      assert.equal(result.role, 'tool', JSON.stringify(messages.slice(-2)));
      assert.match(JSON.stringify(result.content), /forty-two/);
      const call = messages[messages.length - 2].tool_calls[0];
      assert.equal(call.id, result.tool_call_id);
      assert.equal(call.function.name, 'exec_command');
      assert.deepEqual(JSON.parse(call.function.arguments), { cmd: `cat ${notes}` });
    }

    // Every request Codex made was a Responses call of this key, served and charged exactly.
    const rows = await member.logsOfKey(id, 2);
    assert.equal(rows.length, sent.length, JSON.stringify(rows));
    for (const row of rows) {
      assert.equal(row.endpoint, '/responses', JSON.stringify(row));
      assert.equal(row.status, 200, JSON.stringify(row));
      assert.equal(row.model, model);
      assert.equal(nano(row.cost), COST[model], JSON.stringify(row));
    }
    assert.equal(before - (await member.balance()), COST[model] * BigInt(rows.length));
  });
}

test('codex exec stops with the gateway\'s word when the key is out of funds, nothing sent or billed', async () => {
  // A key whose limit is below the hold of any request.
  const { id, key } = await member.newKey('codex-limit', { limit: '0.000001' });
  const sentBefore = (await fakeRequests(UPSTREAM['gpt-native'])).length;
  const before = await member.balance();
  const { code, stdout, stderr } = await readNotes('gpt-native', key);
  assert.notEqual(code, 0, `codex exited 0\n${stdout}\n${stderr}`);
  assert.equal((await fakeRequests(UPSTREAM['gpt-native'])).length, sentBefore);
  assert.equal(await member.balance(), before);
  // Codex shows the status and the gateway's message (and, with no retries, asks once).
  assert.match(stderr, /402 Payment Required: this API key's spending limit is used up/, stderr);
  const rows = await member.logsOfKey(id, 1);
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.deepEqual(
    [rows[0].endpoint, rows[0].status, rows[0].error_code, nano(rows[0].cost)],
    ['/responses', 402, 'key_limit_reached', 0n],
    JSON.stringify(rows[0]),
  );
});

test('codex exec stops on the response.failed of a stream the upstream broke off, nothing billed', async () => {
  const { id, key } = await member.newKey('codex-broken');
  const before = await member.balance();
  // The fake breaks off a streamed text answer to a last user turn that says "drop the line".
  const { code, stdout, stderr } = await readNotes('gpt-native', key, 'Say hello, then drop the line.');
  assert.notEqual(code, 0, `codex exited 0\n${stdout}\n${stderr}`);
  assert.match(stderr, /the upstream stream failed/, stderr);
  const rows = await member.logsOfKey(id, 1);
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.deepEqual([rows[0].status, nano(rows[0].cost)], [502, 0n], JSON.stringify(rows[0]));
  assert.equal(await member.balance(), before);
});
