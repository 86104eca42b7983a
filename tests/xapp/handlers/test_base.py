"""The base handler: typed errors become the handler's answer; a message type has one
handler."""

import pytest

from xapp.counters import Counters
from xapp.errors import MalformedMessage
from xapp.handlers import Handler, dispatch_table


class Echo(Handler):
    mtypes = (1, 2)

    def process(self, payload, meid):
        if payload == b"bad":
            raise MalformedMessage("echo-bad", "refused", cell="c-1")
        return [(3, payload)]


class Other(Handler):
    mtypes = (2,)

    def process(self, payload, meid):
        return []


def test_a_handler_answers_what_it_processes():
    assert Echo(Counters())(b"hi", None) == [(3, b"hi")]


def test_a_typed_error_is_a_drop_counted_by_reason():
    counters = Counters()
    assert Echo(counters)(b"bad", "gnb-1") == []
    assert counters["dropped"] == 1 and counters["dropped_echo-bad"] == 1


def test_dispatch_table_registers_each_handler_for_its_types():
    echo = Echo(Counters())
    assert dispatch_table([echo]) == {1: echo, 2: echo}


def test_two_handlers_for_one_message_type_are_refused():
    with pytest.raises(ValueError, match="message type 2 has two handlers"):
        dispatch_table([Echo(Counters()), Other(Counters())])
