// Tiny fakes for the e2e tests: an OpenAI-compatible upstream with a known `usage` (so costs are
// exact) and an EPay gateway's submit page (where checkout sends the browser).
// Usage: node fake-upstream.js PORT   (prints "ready PORT" once listening)

import http from 'node:http';

const port = Number(process.argv[2] || 0);
const USAGE = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 };

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.url.startsWith('/submit.php')) {
      const order = new URL(req.url, 'http://x').searchParams.get('out_trade_no') || '';
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>Fake EPay</title><h1>Fake EPay gateway</h1><p id="order">${order.replace(/[^A-Za-z0-9_-]/g, '')}</p>`);
      return;
    }
    if (req.method === 'GET' && req.url.endsWith('/models')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'e2e-model', object: 'model' }] }));
      return;
    }
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error', code: 'not_found' } }));
      return;
    }
    let parsed = {};
    try {
      parsed = JSON.parse(body);
    } catch {
      /* answer anyway */
    }
    const id = 'chatcmpl-e2e-' + Date.now();
    const created = Math.floor(Date.now() / 1000);
    if (parsed.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta, extra = {}) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: parsed.model, choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
      res.write(chunk({ role: 'assistant', content: 'Hello' }));
      res.write(chunk({ content: ' from e2e.' }));
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: parsed.model, choices: [], usage: USAGE })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model: parsed.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from e2e.' }, finish_reason: 'stop' }],
        usage: USAGE,
      }),
    );
  });
});

server.listen(port, '127.0.0.1', () => console.log('ready ' + server.address().port));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
