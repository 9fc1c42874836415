"""The official OpenAI Python SDK against the gateway: chat completions, plain and streamed, and
the Responses API (create, stream, compact), passed through to an upstream that serves it
(gpt-native) or translated to chat completions (gpt-fake), with the usage a provider reports for
prompt caching and reasoning, billed at each kind's price."""

import json
import re
import unittest
from decimal import Decimal

import openai

from gateway import BASE_URL, Member, fake_requests

# What the fake reports in chat completions: 1,200 prompt tokens of which 1,000 cached, 90 output
# of which 40 reasoning. At gpt-fake's prices: 200 × 2 + 1000 × 0.5 + 90 × 8 = 1,620 per 1M.
COST = Decimal("0.00162")

# What it reports in the Responses API: 2,400 input of which 2,000 cached, 150 output of which 60
# reasoning. At gpt-native's prices (those of gpt-fake): 400 × 2 + 2000 × 0.5 + 150 × 8 = 3,000
# per 1M. gpt-fake asked in the Responses API is billed from the chat usage: COST.
NATIVE_COST = Decimal("0.003")

CHAT = "/openai/v1/chat/completions"
RESPONSES = "/openai/v1/responses"
COMPACT = "/openai/v1/responses/compact"



def native_text_events(text):
    """The events the fake streams for a text answer (a delta a word, as it splits them), which a
    pass-through hands on as they are."""
    return (
        ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
        + ["response.output_text.delta"] * len(re.split(r"(?<= )", text))
        + ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    )


# The prompts are long enough for the usage the fake reports: a request's hold is bounded by its
# prompt, and a usage above the bound is charged only the hold (and logged as such).
HELLO = "hello " * 400

# A shell tool as Codex offers it (a function taking `cmd`), which the fake's script calls.
SHELL = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {"cmd": {"type": "string", "description": "Shell command to execute."}},
        "required": ["cmd"],
        "additionalProperties": False,
    },
}


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


def in_order(seen, wanted):
    """Whether `wanted` appears in `seen` in that order (other events may come between)."""
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


class Responses(unittest.TestCase):
    """`/v1/responses` and `/v1/responses/compact`. Each test has a key of its own, so the key's
    log rows are exactly that test's requests."""

    @classmethod
    def setUpClass(cls):
        cls.member = Member()

    def setUp(self):
        self.key_id, key = self.member.new_key_with_id(f"resp-{self._testMethodName[5:35]}")
        self.client = openai.OpenAI(base_url=f"{BASE_URL}/v1", api_key=key)
        self.before = self.member.balance()
        self.sent = {path: len(fake_requests(path)) for path in (CHAT, RESPONSES, COMPACT)}

    def upstream(self, path, count=1):
        """The bodies the fake got at `path` during this test, asserting how many and that the
        other paths got none."""
        for other, n in self.sent.items():
            got = fake_requests(other)[n:]
            self.assertEqual(len(got), count if other == path else 0, f"{other}: {got}")
        return fake_requests(path)[self.sent[path] :]

    def assert_billed(self, cost, endpoint, model, count=1, tokens=None):
        """`count` log rows of this key, each status 200 at `endpoint` for `model` charged exactly
        `cost`, and the balance down by exactly their sum."""
        rows = self.member.logs_of_key(self.key_id, count)
        for row in rows:
            self.assertEqual(
                (row["status"], row["endpoint"], row["model"], Decimal(row["cost"])),
                (200, endpoint, model, cost),
                json.dumps(row),
            )
            if tokens is not None:
                self.assertEqual(
                    (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"], row["reasoning_tokens"]),
                    tokens,
                    json.dumps(row),
                )
        self.assertEqual(self.member.balance(), self.before - cost * count)
        return rows

    def assert_native_usage(self, usage):
        self.assertEqual(
            (usage.input_tokens, usage.input_tokens_details.cached_tokens, usage.output_tokens,
             usage.output_tokens_details.reasoning_tokens, usage.total_tokens),
            (2400, 2000, 150, 60, 2550),
        )

    def assert_chat_usage(self, usage):
        """The chat usage (CHAT_USAGE) said in the Responses API's words."""
        self.assertEqual(
            (usage.input_tokens, usage.input_tokens_details.cached_tokens, usage.output_tokens,
             usage.output_tokens_details.reasoning_tokens, usage.total_tokens),
            (1200, 1000, 90, 40, 1290),
        )

    def test_create_native_is_passed_through_and_billed_from_the_responses_usage(self):
        response = self.client.responses.create(
            model="gpt-native",
            instructions="Be brief.",
            input=HELLO,
            max_output_tokens=200,
            prompt_cache_key="sdk-native-create",
        )
        self.assertEqual(response.output_text, "You said: " + HELLO[:40])
        self.assertEqual(response.status, "completed")
        self.assertEqual([item.type for item in response.output], ["message"])
        self.assert_native_usage(response.usage)
        (sent,) = self.upstream(RESPONSES)
        # The body as sent (the fake's name for the model is the same).
        self.assertEqual(
            {k: sent.get(k) for k in ("model", "instructions", "input", "max_output_tokens", "prompt_cache_key")},
            {"model": "gpt-native", "instructions": "Be brief.", "input": HELLO, "max_output_tokens": 200,
             "prompt_cache_key": "sdk-native-create"},
        )
        self.assertFalse(sent.get("stream"), sent)
        (row,) = self.assert_billed(NATIVE_COST, "/responses", "gpt-native", tokens=(400, 2000, 150, 60))
        self.assertEqual(Decimal(row["cost_breakdown"]["cache_read"]), Decimal("0.001"))

    def test_create_translated_goes_to_chat_completions_and_comes_back_as_a_response(self):
        response = self.client.responses.create(
            model="gpt-fake",
            instructions="Be brief.",
            input=[{"role": "user", "content": [{"type": "input_text", "text": HELLO}]}],
            max_output_tokens=200,
        )
        self.assertEqual(response.output_text, "You said: " + HELLO[:40])
        self.assertEqual(response.status, "completed")
        self.assertEqual(response.object, "response")
        self.assertTrue(response.id)
        self.assertEqual([item.type for item in response.output], ["message"])
        self.assertEqual(response.output[0].role, "assistant")
        self.assert_chat_usage(response.usage)
        (sent,) = self.upstream(CHAT)
        self.assertEqual(sent["model"], "gpt-fake")
        self.assertIn("hello hello", json.dumps(sent["messages"][-1]))
        self.assertEqual(sent["messages"][-1]["role"], "user")
        self.assertIn("Be brief.", json.dumps(sent["messages"][0]))
        self.assert_billed(COST, "/responses", "gpt-fake", tokens=(200, 1000, 90, 40))

    def test_stream_native_hands_on_every_event_as_the_upstream_sent_it(self):
        with self.client.responses.stream(model="gpt-native", input=HELLO) as stream:
            events = list(stream)
            final = stream.get_final_response()
        self.assertEqual([e.type for e in events], native_text_events("You said: " + HELLO[:40]))
        self.assertEqual([e.sequence_number for e in events], list(range(len(events))))
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        self.assertEqual(text, "You said: " + HELLO[:40])
        self.assertEqual(final.output_text, text)
        self.assert_native_usage(final.usage)
        (sent,) = self.upstream(RESPONSES)
        self.assertIs(sent["stream"], True)
        self.assertEqual(sent["input"], HELLO)
        self.assert_billed(NATIVE_COST, "/responses", "gpt-native", tokens=(400, 2000, 150, 60))

    def test_stream_translated_is_a_responses_stream_with_the_usage_at_the_end(self):
        with self.client.responses.stream(model="gpt-fake", input=HELLO) as stream:
            events = list(stream)
            final = stream.get_final_response()
        types = [e.type for e in events]
        wanted = ["response.created", "response.in_progress", "response.output_item.added",
                  "response.content_part.added", "response.output_text.delta", "response.output_item.done",
                  "response.completed"]
        self.assertTrue(in_order(types, wanted), types)
        self.assertEqual(types[0], "response.created")
        self.assertEqual(types[-1], "response.completed")
        self.assertEqual([e.sequence_number for e in events], list(range(len(events))), types)
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        self.assertEqual(text, "You said: " + HELLO[:40])
        self.assertEqual(final.output_text, text)
        self.assertEqual(final.status, "completed")
        self.assert_chat_usage(final.usage)
        (sent,) = self.upstream(CHAT)
        self.assertIs(sent["stream"], True)
        self.assertEqual(sent["stream_options"], {"include_usage": True})
        self.assert_billed(COST, "/responses", "gpt-fake", tokens=(200, 1000, 90, 40))

    def test_a_function_call_round_trip_translated(self):
        first = self.client.responses.create(model="gpt-fake", input="Read /tmp/cr-sdk/notes.txt please.", tools=[SHELL])
        (call,) = first.output
        self.assertEqual((call.type, call.name), ("function_call", "exec_command"))
        self.assertEqual(json.loads(call.arguments), {"cmd": "cat /tmp/cr-sdk/notes.txt"})
        self.assertTrue(call.call_id)
        # The tool went to the upstream as a chat function of the same name and schema.
        (offered,) = fake_requests(CHAT)[self.sent[CHAT] :][0]["tools"]
        self.assertEqual(offered["function"]["name"], "exec_command")
        self.assertEqual(offered["function"]["parameters"], SHELL["parameters"])
        # The client sends back the call and its output, as Codex does (store: false, no ids).
        with self.client.responses.stream(
            model="gpt-fake",
            tools=[SHELL],
            store=False,
            input=[
                {"role": "user", "content": "Read /tmp/cr-sdk/notes.txt please."},
                {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
                {"type": "function_call_output", "call_id": call.call_id, "output": "Output:\nforty-two\n"},
            ],
        ) as stream:
            events = list(stream)
            final = stream.get_final_response()
        self.assertEqual(final.output_text, "The file says: forty-two")
        second = fake_requests(CHAT)[self.sent[CHAT] + 1]
        tool_message = second["messages"][-1]
        self.assertEqual((tool_message["role"], tool_message["tool_call_id"]), ("tool", call.call_id), second["messages"])
        self.assertIn("forty-two", json.dumps(tool_message["content"]))
        assistant = second["messages"][-2]
        self.assertEqual(assistant["tool_calls"][0]["function"]["name"], "exec_command")
        self.assertEqual(assistant["tool_calls"][0]["id"], call.call_id)
        self.assertEqual(events[-1].type, "response.completed")
        self.upstream(CHAT, count=2)
        self.assert_billed(COST, "/responses", "gpt-fake", count=2)

    def test_a_streamed_function_call_translated(self):
        with self.client.responses.stream(model="gpt-fake", input="Read /tmp/cr-sdk/notes.txt please.", tools=[SHELL]) as stream:
            events = list(stream)
            final = stream.get_final_response()
        types = [e.type for e in events]
        self.assertTrue(
            in_order(types, ["response.created", "response.output_item.added", "response.function_call_arguments.delta",
                             "response.function_call_arguments.done", "response.output_item.done", "response.completed"]),
            types,
        )
        arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
        self.assertEqual(json.loads(arguments), {"cmd": "cat /tmp/cr-sdk/notes.txt"})
        (call,) = [item for item in final.output if item.type == "function_call"]
        self.assertEqual((call.name, json.loads(call.arguments)), ("exec_command", {"cmd": "cat /tmp/cr-sdk/notes.txt"}))
        self.assert_chat_usage(final.usage)
        self.upstream(CHAT)
        self.assert_billed(COST, "/responses", "gpt-fake")

    def test_compact_native_is_passed_through_and_billed(self):
        compacted = self.client.responses.compact(
            model="gpt-native",
            input=[
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "first answer"},
                {"role": "user", "content": "second question"},
            ],
        )
        self.assertEqual(compacted.object, "response.compaction")
        self.assertEqual([item.type for item in compacted.output], ["message", "message", "compaction"])
        self.assertEqual(compacted.output[1].content[0].text, "second question")
        self.assertTrue(compacted.output[2].encrypted_content.endswith(":3"))
        self.assert_native_usage(compacted.usage)
        (sent,) = self.upstream(COMPACT)
        self.assertEqual(sent["model"], "gpt-native")
        self.assertEqual(len(sent["input"]), 3)
        self.assert_billed(NATIVE_COST, "/responses/compact", "gpt-native", tokens=(400, 2000, 150, 60))

    def test_compact_translated_summarizes_through_chat_and_keeps_the_users_messages(self):
        compacted = self.client.responses.compact(
            model="gpt-fake",
            instructions="You are Codex.",
            input=[
                {"role": "user", "content": "first question " * 200},
                {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": '{"cmd":"ls"}'},
                {"type": "function_call_output", "call_id": "call_1", "output": "notes.txt"},
                {"role": "assistant", "content": "first answer"},
                {"role": "user", "content": "second question"},
            ],
        )
        self.assertEqual(compacted.object, "response.compaction")
        self.assertTrue(compacted.id)
        kinds = [(item.type, item.role) for item in compacted.output]
        self.assertEqual(kinds, [("message", "user")] * 3, compacted.output)
        self.assertEqual(compacted.output[0].content[0].text, "first question " * 200)
        self.assertEqual(compacted.output[1].content[0].text, "second question")
        # The summary is the upstream's answer (the fake echoes the summary prompt it was sent).
        self.assertIn("You said: ", compacted.output[2].content[0].text)
        self.assert_chat_usage(compacted.usage)
        (sent,) = self.upstream(CHAT)
        self.assertFalse(sent.get("stream"), sent)
        self.assertNotIn("tools", sent)
        # Any chat upstream takes it: the tool call and its result come as text, not tool messages.
        self.assertNotIn("tool", [m["role"] for m in sent["messages"]])
        self.assertIn("notes.txt", json.dumps(sent["messages"]))
        self.assertEqual(sent["messages"][-1]["role"], "user")
        self.assert_billed(COST, "/responses/compact", "gpt-fake", tokens=(200, 1000, 90, 40))

    def test_errors_arrive_as_the_sdk_expects_them(self):
        with self.assertRaises(openai.NotFoundError) as caught:
            self.client.responses.create(model="no-such-model", input="hi")
        self.assertEqual(caught.exception.code, "model_not_found")
        with self.assertRaises(openai.BadRequestError) as caught:
            self.client.responses.compact(model="gpt-native", input="hi", extra_body={"stream": True})
        self.assertIn("stream", caught.exception.message)
        bad = openai.OpenAI(base_url=f"{BASE_URL}/v1", api_key="sk-not-a-key")
        with self.assertRaises(openai.AuthenticationError):
            bad.responses.create(model="gpt-native", input="hi")
        for path, n in self.sent.items():
            self.assertEqual(len(fake_requests(path)), n, path)
        self.assertEqual(self.member.balance(), self.before)

    def test_a_stream_the_upstream_breaks_off_ends_in_response_failed_and_is_not_billed(self):
        for model, path in (("gpt-native", RESPONSES), ("gpt-fake", CHAT)):
            with self.subTest(model):
                sent = len(fake_requests(path))
                stream = self.client.responses.create(model=model, input="Now drop the line. " + HELLO, stream=True)
                events = list(stream)
                types = [e.type for e in events]
                self.assertEqual(len(fake_requests(path)), sent + 1)
                self.assertEqual(types[0], "response.created", types)
                self.assertIn("response.output_text.delta", types)
                self.assertNotIn("response.completed", types)
                self.assertEqual(types[-1], "response.failed", types)
                failed = events[-1]
                self.assertEqual(failed.response.status, "failed", failed)
                self.assertTrue(failed.response.error.code, failed)
                self.assertTrue(failed.response.error.message, failed)
                # As OpenAI's: numbered on from the events before it, the response's own id.
                numbers = [e.sequence_number for e in events]
                self.assertEqual(
                    (numbers, failed.response.id),
                    (list(range(len(events))), events[0].response.id),
                    failed.to_json(indent=None),
                )
        rows = self.member.logs_of_key(self.key_id, 2)
        for row in rows:
            self.assertEqual((row["status"], Decimal(row["cost"])), (502, Decimal(0)), json.dumps(row))
        self.assertEqual(self.member.balance(), self.before)

    def test_previous_response_id_cannot_be_translated(self):
        with self.assertRaises(openai.BadRequestError) as caught:
            self.client.responses.create(model="gpt-fake", input="and then?", previous_response_id="resp_abc123")
        self.assertEqual(caught.exception.status_code, 400)
        self.assertIn("previous_response_id", caught.exception.message)
        for path, n in self.sent.items():
            self.assertEqual(len(fake_requests(path)), n, path)
        self.assertEqual(self.member.balance(), self.before)


if __name__ == "__main__":
    unittest.main()
