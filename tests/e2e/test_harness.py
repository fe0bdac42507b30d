"""The harness itself: a private Postfix instance delivers to files and
its reinjection port can be taken down and brought back."""

import os

import ghtest


def test_postfix_delivers_each_recipient_to_a_file(postfix_factory):
    pf = postfix_factory()
    msg = ghtest.make_message(subject="harness", body="line one\r\n.dot line\r\n")
    pf.send("alice@example.org", ["bob@example.com", "carol@example.com"], msg)
    files = pf.wait_delivered(2)
    rcpts = sorted(f.split(".", 1)[1][: -len(".eml")] for f in map(os.path.basename, files))
    assert rcpts == ["bob@example.com", "carol@example.com"]
    raw = open(files[0], "rb").read()
    assert b"Subject: harness" in raw
    assert ghtest.body_of(raw) == b"line one\n.dot line\n"


def test_reinjection_port_goes_down_and_comes_back(postfix_factory):
    pf = postfix_factory()
    pf.reinject_down()
    assert not ghtest._port_open(pf.reinject_port)
    pf.reinject_up()
    assert ghtest._port_open(pf.reinject_port)
