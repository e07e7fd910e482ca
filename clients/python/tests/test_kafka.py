"""submit() against a stand-in confluent_kafka module (no broker, no network)."""

from __future__ import annotations

import sys
import types

import pytest

from helpers import identity
from mailroom_client import EnvelopeError, seal, verify

ALICE, BOB = identity(1), identity(2)


class FakeMessage:
    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


def install_fake(monkeypatch, error=None, deliver=True):
    produced = []
    configs = []

    class Producer:
        def __init__(self, config):
            configs.append(config)
            self._pending = []

        def produce(self, topic, value=None, key=None, on_delivery=None):
            produced.append((topic, key, value))
            self._pending.append(on_delivery)

        def flush(self, timeout=None):
            if not deliver:
                return len(self._pending)
            for callback in self._pending:
                callback(error, FakeMessage(3, 41))
            self._pending.clear()
            return 0

    module = types.ModuleType("confluent_kafka")
    module.Producer = Producer
    module.KafkaException = type("KafkaException", (Exception,), {})
    monkeypatch.setitem(sys.modules, "confluent_kafka", module)
    return produced, configs


def test_submit_keys_by_recipient(monkeypatch):
    from mailroom_client.kafka import submit

    produced, configs = install_fake(monkeypatch)
    data = seal(ALICE, BOB.public_key, b"to kafka")
    result = submit(data, "127.0.0.1:9092", linger_ms=5)
    assert result == (verify(data).id.text, 3, 41)
    assert produced == [("mailroom.envelopes", BOB.public_key, data)]
    (config,) = configs
    assert config["bootstrap.servers"] == "127.0.0.1:9092"
    assert config["partitioner"] == "murmur2_random"
    assert config["enable.idempotence"] is True
    assert config["linger.ms"] == 5


def test_submit_verifies_first(monkeypatch):
    from mailroom_client.kafka import submit

    produced, configs = install_fake(monkeypatch)
    data = bytearray(seal(ALICE, BOB.public_key, b"x"))
    data[-1] ^= 1
    with pytest.raises(EnvelopeError) as caught:
        submit(bytes(data), "127.0.0.1:9092", topic="t")
    assert caught.value.reason == "bad_signature"
    assert produced == [] and configs == []


def test_delivery_failures(monkeypatch):
    from mailroom_client.kafka import DeliveryError, submit

    data = seal(ALICE, BOB.public_key, b"x")
    install_fake(monkeypatch, error="Broker: Not enough in-sync replicas")
    with pytest.raises(DeliveryError, match="in-sync"):
        submit(data, "b:9092")
    install_fake(monkeypatch, deliver=False)
    with pytest.raises(DeliveryError, match="no delivery report"):
        submit(data, "b:9092", timeout=0.01)
