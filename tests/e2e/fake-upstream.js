// Tiny fakes for the e2e tests: an OpenAI-compatible upstream with a known `usage` (so costs are
// exact), an EPay gateway's submit page (where checkout sends the browser), and NOWPayments'
// invoice API with its hosted invoice page.
// Usage: node fake-upstream.js PORT   (prints "ready PORT" once listening)

import http from 'node:http';

const port = Number(process.argv[2] || 0);
const USAGE = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 };
let invoices = 0;

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/v1/invoice') {
      if (req.headers['x-api-key'] !== 'e2e-nowpayments-key') {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ statusCode: 403, code: 'INVALID_API_KEY' }));
        return;
      }
      const asked = JSON.parse(body);
      invoices += 1;
      const id = String(5_000_000_000 + invoices);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id, order_id: asked.order_id, price_amount: String(asked.price_amount), price_currency: asked.price_currency, invoice_url: `http://127.0.0.1:${server.address().port}/payment/?iid=${id}&order=${encodeURIComponent(asked.order_id)}` }));
      return;
    }
    if (req.url.startsWith('/payment/')) {
      const q = new URL(req.url, 'http://x').searchParams;
      const clean = (v) => (v || '').replace(/[^A-Za-z0-9_-]/g, '');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>Fake NOWPayments</title><h1>Fake NOWPayments invoice</h1><p id="invoice">${clean(q.get('iid'))}</p><p id="order">${clean(q.get('order'))}</p>`);
      return;
    }
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
