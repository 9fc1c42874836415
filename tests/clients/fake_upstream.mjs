// A fake provider for the client tests, speaking each wire format the gateway talks to upstreams
// in: OpenAI chat completions (`/openai/v1/chat/completions`) and Anthropic Messages
// (`/anthropic/v1/messages`, `/anthropic/v1/messages/count_tokens`). Answers are scripted from the
// request itself, so a real client's turn plays out the same every time: asked to read a file
// (a path ending in .txt in the last user turn) while a `Read` tool is offered, it calls the tool;
// shown the tool's result, it answers with what the file says. Usage is known, so costs are exact.
// Usage: node fake_upstream.mjs PORT   (prints "ready PORT" once listening)
// GET /_requests answers every request received so far (path, headers, body), newest last.

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

/** Anthropic's usage with prompt caching: 50 fresh, 8,000 read, 500 + 1,500 written (5m / 1h). */
export const MESSAGES_USAGE = {
  input_tokens: 50,
  output_tokens: 60,
  cache_read_input_tokens: 8000,
  cache_creation_input_tokens: 2000,
  cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1500 },
};

const textOf = (content) => (typeof content === 'string' ? content : (content || []).map((p) => (typeof p === 'string' ? p : p.text || '')).join(''));

/** What the script does next: { tool: path } to read a file, or { text } to answer. */
function nextStep({ toolResult, userText, offersRead }) {
  if (toolResult !== null) return { text: `The file says: ${toolResult.trim()}` };
  const path = offersRead ? (userText.match(/\/\S+\.txt/) || [])[0] : undefined;
  if (path) return { tool: path };
  return { text: `You said: ${userText.slice(0, 40)}` };
}

function chatStep(body) {
  const messages = body.messages || [];
  const last = messages[messages.length - 1] || {};
  const lastUser = [...messages].reverse().find((m) => m.role === 'user') || {};
  const offersRead = (body.tools || []).some((t) => t.function && t.function.name === 'Read');
  return nextStep({ toolResult: last.role === 'tool' ? textOf(last.content) : null, userText: textOf(lastUser.content), offersRead });
}

function chat(req, res, body) {
  const id = 'chatcmpl-fake-' + received.length;
  const created = Math.floor(Date.now() / 1000);
  const step = chatStep(body);
  const call = step.tool ? { id: 'call_' + received.length, type: 'function', function: { name: 'Read', arguments: JSON.stringify({ file_path: step.tool }) } } : null;
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
    emit(chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: 'Read', arguments: '' } }] }));
    const args = call.function.arguments;
    for (const piece of [args.slice(0, 10), args.slice(10)]) emit(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
  } else {
    for (const word of step.text.split(/(?<= )/)) emit(chunk({ content: word }));
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
    if (req.method === 'POST' && path === '/anthropic/v1/messages') return messages(req, res, body);
    if (req.method === 'POST' && path === '/anthropic/v1/messages/count_tokens') {
      return send(res, 200, { input_tokens: JSON.stringify(body.messages || []).length });
    }
    send(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error', code: 'not_found' } });
  });
});

server.listen(port, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
