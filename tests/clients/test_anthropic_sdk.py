"""The official Anthropic Python SDK against the gateway: messages.create, messages.stream and
messages.count_tokens, on an upstream that speaks Messages (passed through) and on one that speaks
chat completions (translated), billed at each token kind's price."""

import unittest
from decimal import Decimal

import anthropic

from gateway import BASE_URL, Member, fake_requests

# The Anthropic fake reports 50 fresh, 8,000 cache-read, 500 + 1,500 cache-written (5m / 1h) and
# 60 output tokens: 50 × 3 + 8000 × 0.3 + 500 × 3.75 + 1500 × 6 + 60 × 15 = 14,325 per 1M.
NATIVE_COST = Decimal("0.014325")
# (Its prompt is reported far larger than these tests send; max_tokens leaves the hold room for it,
# as a real 10,000-token prompt would.)
# The chat fake reports 1,200 prompt tokens (1,000 cached) and 90 output:
# 200 × 3 + 1000 × 0.3 + 90 × 15 = 2,250 per 1M.
TRANSLATED_COST = Decimal("0.00225")


class Messages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.member = Member()
        # The SDK's base URL has no /v1: it adds /v1/messages itself, as Claude Code does.
        cls.client = anthropic.Anthropic(base_url=BASE_URL, api_key=cls.member.new_key("anthropic-sdk"))

    def create(self, model, **extra):
        raw = self.client.messages.with_raw_response.create(
            model=model,
            max_tokens=4096,
            system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "hello there"}],
            **extra,
        )
        return raw.parse(), raw.headers["request-id"]

    def test_create_passes_through_and_bills_cache_reads_and_writes(self):
        before = self.member.balance()
        message, request_id = self.create("claude-native")
        self.assertEqual(message.content[0].text, "You said: hello there")
        self.assertEqual(message.usage.cache_read_input_tokens, 8000)
        self.assertEqual(message.usage.cache_creation.ephemeral_1h_input_tokens, 1500)
        sent = fake_requests("/anthropic/v1/messages")[-1]
        self.assertEqual(sent["system"][0]["cache_control"], {"type": "ephemeral"})
        log = self.member.log(request_id)
        self.assertEqual(
            (log["input_tokens"], log["cache_read_tokens"], log["cache_write_tokens"], log["cache_write_1h_tokens"]),
            (50, 8000, 500, 1500),
        )
        self.assertEqual(Decimal(log["cost"]), NATIVE_COST)
        self.assertEqual(self.member.balance(), before - NATIVE_COST)

    def test_create_is_translated_for_a_chat_upstream(self):
        before = self.member.balance()
        message, request_id = self.create("claude-translated")
        self.assertEqual(message.type, "message")
        self.assertEqual(message.model, "claude-translated")
        self.assertEqual(message.content[0].text, "You said: hello there")
        self.assertEqual(message.usage.input_tokens, 200)
        self.assertEqual(message.usage.cache_read_input_tokens, 1000)
        sent = fake_requests("/openai/v1/chat/completions")[-1]
        self.assertEqual(sent["messages"][0], {"role": "system", "content": "Be brief."})
        self.assertEqual(Decimal(self.member.log(request_id)["cost"]), TRANSLATED_COST)
        self.assertEqual(self.member.balance(), before - TRANSLATED_COST)

    def test_stream_both_ways(self):
        for model, cost in (("claude-native", NATIVE_COST), ("claude-translated", TRANSLATED_COST)):
            before = self.member.balance()
            with self.client.messages.stream(
                model=model, max_tokens=4096, messages=[{"role": "user", "content": "stream please"}]
            ) as stream:
                text = "".join(stream.text_stream)
                final = stream.get_final_message()
            self.assertEqual(text, "You said: stream please", model)
            self.assertEqual(final.stop_reason, "end_turn", model)
            self.assertGreater(final.usage.output_tokens, 0, model)
            self.assertEqual(self.member.balance(), before - cost, model)

    def test_a_tool_call_and_its_result(self):
        tools = [{"name": "Read", "description": "Reads a file", "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}]
        for model in ("claude-native", "claude-translated"):
            asked = [{"role": "user", "content": "Read /tmp/notes.txt please"}]
            first = self.client.messages.create(model=model, max_tokens=4096, tools=tools, messages=asked)
            self.assertEqual(first.stop_reason, "tool_use", model)
            call = next(b for b in first.content if b.type == "tool_use")
            self.assertEqual(call.input, {"file_path": "/tmp/notes.txt"}, model)
            followed = asked + [
                {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "forty-two"}]},
            ]
            second = self.client.messages.create(model=model, max_tokens=4096, tools=tools, messages=followed)
            self.assertEqual(second.content[-1].text, "The file says: forty-two", model)

    def test_count_tokens_is_never_billed(self):
        before = self.member.balance()
        native = self.client.messages.count_tokens(model="claude-native", messages=[{"role": "user", "content": "count me"}])
        self.assertGreater(native.input_tokens, 0)
        counted = self.client.messages.count_tokens(model="claude-translated", messages=[{"role": "user", "content": "count me"}])
        self.assertGreater(counted.input_tokens, 0)
        self.assertEqual(self.member.balance(), before)

    def test_errors_arrive_as_the_sdk_expects_them(self):
        with self.assertRaises(anthropic.NotFoundError):
            self.client.messages.create(model="claude-nowhere", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        bad = anthropic.Anthropic(base_url=BASE_URL, api_key="sk-not-a-key")
        with self.assertRaises(anthropic.AuthenticationError) as caught:
            bad.messages.create(model="claude-native", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        self.assertEqual(caught.exception.body["error"]["type"], "authentication_error")


if __name__ == "__main__":
    unittest.main()
