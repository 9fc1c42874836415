// A fake provider for the client tests, speaking each wire format the gateway talks to upstreams
// in: OpenAI chat completions (`/openai/v1/chat/completions`), OpenAI Responses
// (`/openai/v1/responses`, `/openai/v1/responses/compact`) and Anthropic Messages
// (`/anthropic/v1/messages`, `/anthropic/v1/messages/count_tokens`). Answers are scripted from the
// request itself, so a real client's turn plays out the same every time: asked to read a file
// (a path ending in .txt in the last user turn) while a tool that can is offered (Claude Code's
// `Read`, or Codex's shell tool `exec_command`, which it is asked to `cat` the file with), it
// calls the tool; shown the tool's result, it answers with what the file says. Usage is known, so
// costs are exact.
// Usage: node fake_upstream.mjs PORT   (prints "ready PORT" once listening)
// GET /_requests answers every request received so far (path, headers, body), newest last.
// A streamed answer to a request whose last user turn says "drop the line" breaks off after its
// first words (the connection closed, no end event), as a provider's stream can.

import http from 'node:http';

const port = Number(process.argv[2] || 0);
const received = [];

/** OpenAI's usage with the details prompt caching and reasoning add. */
export const CHAT_USAGE = {
  prompt_tokens: 1200,
  completion_tokens: 90,
  total_tokens: 1290,
  prompt_tokens_details: { cached_tokens: 1000, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 40, audio_tokens: 0 },
};

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function sse(res) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  return (data, event) => res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

/** The Responses API's usage: 2,400 input tokens of which 2,000 cached, 150 output of which 60
 * reasoning (different from CHAT_USAGE, so a bill shows which wire it was read from). */
export const RESPONSES_USAGE = {
  input_tokens: 2400,
  input_tokens_details: { cached_tokens: 2000 },
  output_tokens: 150,
  output_tokens_details: { reasoning_tokens: 60 },
  total_tokens: 2550,
};

/** Codex's shell tool (codex 0.171: a function taking `{ cmd }`), and how the script calls it. */
export const SHELL_TOOL = 'exec_command';
const shellCall = (path) => ({ cmd: `cat ${path}` });

/** Anthropic's usage with prompt caching: 50 fresh, 8,000 read, 500 + 1,500 written (5m / 1h). */
export const MESSAGES_USAGE = {
  input_tokens: 50,
  output_tokens: 60,
  cache_read_input_tokens: 8000,
  cache_creation_input_tokens: 2000,
  cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1500 },
};

const dropsTheLine = (userText) => /drop the line/.test(userText);

const textOf = (content) => (typeof content === 'string' ? content : (content || []).map((p) => (typeof p === 'string' ? p : p.text || '')).join(''));

/** What a tool printed: Codex's exec_command wraps a command's output in a header ending in
 * "Output:\n"; anything else (Claude Code's Read) is taken as it is. */
const toolOutput = (result) => {
  const wrapped = result.match(/(?:^|\n)Output:\n([\s\S]*)$/);
  return (wrapped ? wrapped[1] : result).trim();
};

/** What the script does next: { tool: path } to read a file, or { text } to answer. */
function nextStep({ toolResult, userText, offersRead }) {
  if (toolResult !== null) return { text: `The file says: ${toolOutput(toolResult)}` };
  const path = offersRead ? (userText.match(/\/\S+\.txt/) || [])[0] : undefined;
  if (path) return { tool: path };
  return { text: `You said: ${userText.slice(0, 40)}` };
}

function chatUserText(body) {
  const lastUser = [...(body.messages || [])].reverse().find((m) => m.role === 'user') || {};
  return textOf(lastUser.content);
}

function chatStep(body) {
  const messages = body.messages || [];
  const last = messages[messages.length - 1] || {};
  const lastUser = [...messages].reverse().find((m) => m.role === 'user') || {};
  const names = (body.tools || []).map((t) => t.function && t.function.name);
  // Claude Code's Read if offered, else Codex's shell tool (as the gateway translated it).
  const tool = names.includes('Read') ? 'Read' : names.includes(SHELL_TOOL) ? SHELL_TOOL : null;
  return { toolName: tool, ...nextStep({ toolResult: last.role === 'tool' ? textOf(last.content) : null, userText: textOf(lastUser.content), offersRead: tool !== null }) };
}

function chat(req, res, body) {
  const id = 'chatcmpl-fake-' + received.length;
  const created = Math.floor(Date.now() / 1000);
  const { toolName, ...step } = chatStep(body);
  const args = step.tool && (toolName === 'Read' ? { file_path: step.tool } : shellCall(step.tool));
  const call = step.tool ? { id: 'call_' + received.length, type: 'function', function: { name: toolName, arguments: JSON.stringify(args) } } : null;
  const finish = call ? 'tool_calls' : 'stop';
  if (!body.stream) {
    const message = call ? { role: 'assistant', content: null, tool_calls: [call] } : { role: 'assistant', content: step.text };
    send(res, 200, { id, object: 'chat.completion', created, model: body.model, choices: [{ index: 0, message, finish_reason: finish }], usage: CHAT_USAGE });
    return;
  }
  const emit = sse(res);
  const chunk = (delta, done = null) => ({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: done }] });
  emit(chunk({ role: 'assistant', content: '' }));
  if (call) {
    emit(chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }));
    const args = call.function.arguments;
    for (const piece of [args.slice(0, 10), args.slice(10)]) emit(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
  } else {
    for (const word of step.text.split(/(?<= )/)) {
      emit(chunk({ content: word }));
      if (dropsTheLine(chatUserText(body))) return void setTimeout(() => res.destroy(), 100);
    }
  }
  emit(chunk({}, finish));
  if (body.stream_options && body.stream_options.include_usage) {
    emit({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: CHAT_USAGE });
  }
  emit('[DONE]');
  res.end();
}

function messagesStep(body) {
  const messages = body.messages || [];
  const last = messages[messages.length - 1] || {};
  const blocks = Array.isArray(last.content) ? last.content : [];
  const result = blocks.find((b) => b.type === 'tool_result');
  const userText = [...messages].reverse().filter((m) => m.role === 'user').map((m) => (Array.isArray(m.content) ? m.content.filter((b) => b.type === 'text').map((b) => b.text).join('') : textOf(m.content))).find((t) => t) || '';
  const offersRead = (body.tools || []).some((t) => t.name === 'Read');
  return nextStep({ toolResult: result ? textOf(result.content) : null, userText, offersRead });
}

function messages(req, res, body) {
  const id = 'msg_fake_' + received.length;
  const step = messagesStep(body);
  const toolUse = step.tool ? { type: 'tool_use', id: 'toolu_' + received.length, name: 'Read', input: { file_path: step.tool } } : null;
  const stop = toolUse ? 'tool_use' : 'end_turn';
  if (!body.stream) {
    send(res, 200, { id, type: 'message', role: 'assistant', model: body.model, content: [toolUse || { type: 'text', text: step.text }], stop_reason: stop, stop_sequence: null, usage: MESSAGES_USAGE });
    return;
  }
  const emit = sse(res);
  const ev = (name, data) => emit({ type: name, ...data }, name);
  ev('message_start', { message: { id, type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { ...MESSAGES_USAGE, output_tokens: 1 } } });
  ev('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } });
  ev('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Working it out.' } });
  ev('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'EqQBCkYIARgCKkDfakeSignature==' } });
  ev('content_block_stop', { index: 0 });
  if (toolUse) {
    ev('content_block_start', { index: 1, content_block: { ...toolUse, input: {} } });
    const args = JSON.stringify(toolUse.input);
    for (const piece of [args.slice(0, 10), args.slice(10)]) ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: piece } });
  } else {
    ev('content_block_start', { index: 1, content_block: { type: 'text', text: '' } });
    for (const word of step.text.split(/(?<= )/)) ev('content_block_delta', { index: 1, delta: { type: 'text_delta', text: word } });
  }
  ev('content_block_stop', { index: 1 });
  ev('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: MESSAGES_USAGE.output_tokens } });
  ev('message_stop', {});
  res.end();
}

/** The text of a Responses input item's content: a string, or input_text / output_text parts. */
const partsText = (content) => (typeof content === 'string' ? content : (content || []).map((p) => p.text || '').join(''));

function responsesUserText(body) {
  const input = typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : body.input || [];
  const lastUser = [...input].reverse().find((i) => (i.type === undefined || i.type === 'message') && i.role === 'user') || {};
  return partsText(lastUser.content);
}

function responsesStep(body) {
  const input = typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : body.input || [];
  const last = input[input.length - 1] || {};
  const offersShell = (body.tools || []).some((t) => t.type === 'function' && t.name === SHELL_TOOL);
  const toolResult = last.type === 'function_call_output' ? (typeof last.output === 'string' ? last.output : partsText(last.output)) : null;
  return nextStep({ toolResult, userText: responsesUserText(body), offersRead: offersShell });
}

/** A Responses answer as OpenAI streams it: typed events, each with its sequence_number, the
 * output items opened, filled and closed, and the usage on response.completed. A reasoning item
 * (opaque, as with store: false) comes first when the request includes reasoning.encrypted_content,
 * as Codex's do. */
function responses(req, res, body) {
  const n = received.length;
  const id = 'resp_fake_' + n;
  const created_at = Math.floor(Date.now() / 1000);
  const step = responsesStep(body);
  const items = [];
  if ((body.include || []).includes('reasoning.encrypted_content')) {
    items.push({ id: 'rs_fake_' + n, type: 'reasoning', summary: [], encrypted_content: 'gAAAAfakeEncryptedReasoning' + n });
  }
  if (step.tool) {
    items.push({ id: 'fc_fake_' + n, type: 'function_call', status: 'completed', arguments: JSON.stringify(shellCall(step.tool)), call_id: 'call_fake_' + n, name: SHELL_TOOL });
  } else {
    items.push({ id: 'msg_fake_' + n, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: step.text, annotations: [], logprobs: [] }] });
  }
  const response = (status, output, usage) => ({
    id, object: 'response', created_at, status, error: null, incomplete_details: null, instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null, model: body.model, output, parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null, reasoning: { effort: null, summary: null }, store: body.store ?? true,
    temperature: 1, text: { format: { type: 'text' } }, tool_choice: body.tool_choice ?? 'auto', tools: body.tools || [], top_p: 1,
    truncation: 'disabled', usage, metadata: {},
  });
  if (!body.stream) return send(res, 200, response('completed', items, RESPONSES_USAGE));
  const emit = sse(res);
  let seq = 0;
  const ev = (type, data) => emit({ type, sequence_number: seq++, ...data }, type);
  ev('response.created', { response: response('in_progress', [], null) });
  ev('response.in_progress', { response: response('in_progress', [], null) });
  for (const [output_index, item] of items.entries()) {
    if (item.type === 'reasoning') {
      ev('response.output_item.added', { output_index, item: { ...item, encrypted_content: undefined } });
    } else if (item.type === 'function_call') {
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
      for (const delta of [item.arguments.slice(0, 10), item.arguments.slice(10)]) {
        ev('response.function_call_arguments.delta', { item_id: item.id, output_index, delta });
      }
      ev('response.function_call_arguments.done', { item_id: item.id, output_index, name: item.name, arguments: item.arguments });
    } else {
      const text = item.content[0].text;
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
      const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
      ev('response.content_part.added', { item_id: item.id, output_index, content_index: 0, part });
      for (const delta of text.split(/(?<= )/)) {
        ev('response.output_text.delta', { item_id: item.id, output_index, content_index: 0, delta, logprobs: [] });
        if (dropsTheLine(responsesUserText(body))) return void setTimeout(() => res.destroy(), 100);
      }
      ev('response.output_text.done', { item_id: item.id, output_index, content_index: 0, text, logprobs: [] });
      ev('response.content_part.done', { item_id: item.id, output_index, content_index: 0, part: { ...part, text } });
    }
    ev('response.output_item.done', { output_index, item });
  }
  ev('response.completed', { response: response('completed', items, RESPONSES_USAGE) });
  res.end();
}

/** `/responses/compact`: the conversation's user messages kept, the rest replaced by one opaque
 * compaction item, with the usage of the pass. */
function compact(req, res, body) {
  const n = received.length;
  const input = typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : body.input || [];
  const users = input
    .filter((i) => (i.type === undefined || i.type === 'message') && i.role === 'user')
    .map((i, k) => ({ id: `msg_cmp_${n}_${k}`, type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_text', text: partsText(i.content) }] }));
  send(res, 200, {
    id: 'resp_cmp_' + n,
    object: 'response.compaction',
    created_at: Math.floor(Date.now() / 1000),
    output: [...users, { id: 'cmp_fake_' + n, type: 'compaction', encrypted_content: `gAAAAfakeCompaction${n}:${input.length}` }],
    usage: RESPONSES_USAGE,
  });
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    const path = req.url.split('?')[0];
    if (req.method === 'GET' && path === '/_requests') return send(res, 200, received);
    let body = {};
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      return send(res, 400, { error: { message: 'not JSON', type: 'invalid_request_error' } });
    }
    received.push({ path, headers: req.headers, body });
    if (req.method === 'POST' && path === '/openai/v1/chat/completions') return chat(req, res, body);
    if (req.method === 'POST' && path === '/openai/v1/responses') return responses(req, res, body);
    if (req.method === 'POST' && path === '/openai/v1/responses/compact') return compact(req, res, body);
    if (req.method === 'POST' && path === '/anthropic/v1/messages') return messages(req, res, body);
    if (req.method === 'POST' && path === '/anthropic/v1/messages/count_tokens') {
      return send(res, 200, { input_tokens: JSON.stringify(body.messages || []).length });
    }
    send(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error', code: 'not_found' } });
  });
});

server.listen(port, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
