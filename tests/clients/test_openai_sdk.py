"""The official OpenAI Python SDK against the gateway: chat completions, plain and streamed, with
the usage a provider reports for prompt caching and reasoning, billed at each kind's price."""

import unittest
from decimal import Decimal

import openai

from gateway import BASE_URL, Member, fake_requests

# What the fake reports: 1,200 prompt tokens of which 1,000 cached, 90 output of which 40
# reasoning. At gpt-fake's prices: 200 × 2 + 1000 × 0.5 + 90 × 8 = 1,620 per 1M.
COST = Decimal("0.00162")


class ChatCompletions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.member = Member()
        cls.client = openai.OpenAI(base_url=f"{BASE_URL}/v1", api_key=cls.member.new_key("openai-sdk"))

    def test_a_completion_reads_cached_and_reasoning_usage_and_is_billed_by_kind(self):
        before = self.member.balance()
        raw = self.client.chat.completions.with_raw_response.create(
            model="gpt-fake",
            messages=[{"role": "user", "content": "hello " * 400}],
            max_tokens=200,
        )
        completion = raw.parse()
        request_id = raw.headers["x-request-id"]
        self.assertTrue(completion.choices[0].message.content.startswith("You said: hello"))
        usage = completion.usage
        self.assertEqual(usage.prompt_tokens, 1200)
        self.assertEqual(usage.prompt_tokens_details.cached_tokens, 1000)
        self.assertEqual(usage.completion_tokens_details.reasoning_tokens, 40)
        log = self.member.log(request_id)
        self.assertEqual(
            (log["input_tokens"], log["cache_read_tokens"], log["output_tokens"], log["reasoning_tokens"]),
            (200, 1000, 90, 40),
        )
        self.assertEqual(Decimal(log["cost"]), COST)
        self.assertEqual(Decimal(log["cost_breakdown"]["cache_read"]), Decimal("0.0005"))
        self.assertEqual(self.member.balance(), before - COST)

    def test_a_stream_hides_the_usage_chunk_unless_asked_and_bills_the_same(self):
        before = self.member.balance()
        stream = self.client.chat.completions.create(
            model="gpt-fake",
            messages=[{"role": "user", "content": "stream " * 400}],
            max_tokens=200,
            stream=True,
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        self.assertTrue(text.startswith("You said: stream"), text)
        self.assertTrue(all(c.usage is None for c in chunks), "not asked for, not shown")
        self.assertEqual(fake_requests("/openai/v1/chat/completions")[-1]["stream_options"], {"include_usage": True})
        asked = self.client.chat.completions.create(
            model="gpt-fake",
            messages=[{"role": "user", "content": "stream " * 400}],
            max_tokens=200,
            stream=True,
            stream_options={"include_usage": True},
        )
        last = list(asked)[-1]
        self.assertEqual(last.usage.prompt_tokens_details.cached_tokens, 1000)
        self.assertEqual(self.member.balance(), before - 2 * COST)

    def test_errors_arrive_as_the_sdk_expects_them(self):
        with self.assertRaises(openai.NotFoundError) as caught:
            self.client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
        self.assertEqual(caught.exception.code, "model_not_found")
        bad = openai.OpenAI(base_url=f"{BASE_URL}/v1", api_key="sk-not-a-key")
        with self.assertRaises(openai.AuthenticationError):
            bad.chat.completions.create(model="gpt-fake", messages=[{"role": "user", "content": "hi"}])


if __name__ == "__main__":
    unittest.main()
