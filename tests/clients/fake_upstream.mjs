// A fake provider for the client tests, speaking each wire format the gateway talks to upstreams
// in: OpenAI chat completions (`/openai/v1/chat/completions`), and more as the gateway learns
// them. Answers are scripted from the request itself, so a real client's turn (a tool call, then
// its result) plays out the same every time, and usage is known, so costs are exact.
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

/** The text of the last user turn of a chat request. */
function lastUserText(messages) {
  const last = [...(messages || [])].reverse().find((m) => m.role === 'user' || m.role === 'tool');
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  return (last.content || []).map((p) => p.text || '').join('');
}

function chat(req, res, body) {
  const id = 'chatcmpl-fake-' + received.length;
  const created = Math.floor(Date.now() / 1000);
  const text = `You said: ${lastUserText(body.messages).slice(0, 40)}`;
  if (!body.stream) {
    send(res, 200, {
      id, object: 'chat.completion', created, model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage: CHAT_USAGE,
    });
    return;
  }
  const emit = sse(res);
  const chunk = (delta, finish = null) => ({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] });
  emit(chunk({ role: 'assistant', content: '' }));
  for (const word of text.split(/(?<= )/)) emit(chunk({ content: word }));
  emit(chunk({}, 'stop'));
  if (body.stream_options && body.stream_options.include_usage) {
    emit({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: CHAT_USAGE });
  }
  emit('[DONE]');
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
    send(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error', code: 'not_found' } });
  });
});

server.listen(port, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
