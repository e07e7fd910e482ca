"""Submitting envelopes to Mailroom's Kafka topic (needs the optional ``confluent-kafka``: ``pip install
mailroom-client[kafka]``). Imported lazily: nothing else in the package needs Kafka.

The record is exactly what docs/ENVELOPE.md ("The Kafka record") says: value = the envelope bytes, key = the
recipient's raw 32-byte public key, no headers, partitioned with ``murmur2_random`` like the Java client.
"""

from __future__ import annotations

from typing import Any

from .envelope import DEFAULT_MAX_BODY_BYTES, verify

__all__ = ["submit", "DeliveryError", "DEFAULT_TOPIC", "producer_config"]

DEFAULT_TOPIC = "mailroom.envelopes"


class DeliveryError(RuntimeError):
    """The broker did not acknowledge the envelope (or librdkafka gave up on it)."""


def producer_config(brokers: str, **config: Any) -> dict[str, Any]:
    """The producer settings Mailroom's own producer uses; ``config`` (librdkafka names, ``.`` or ``_``) wins."""
    settings: dict[str, Any] = {
        "bootstrap.servers": brokers,
        "client.id": "mailroom-py",
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "message.timeout.ms": 30000,
    }
    for name, value in config.items():
        settings[name.replace("_", ".")] = value
    return settings


def submit(
    envelope_bytes: bytes,
    brokers: str,
    topic: str = DEFAULT_TOPIC,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout: float = 60.0,
    **config: Any,
) -> tuple[str, int, int]:
    """Verifies the envelope locally (raising ``EnvelopeError``; nothing is produced), produces it keyed by
    its recipient, waits for the delivery report, and returns ``(message id text, partition, offset)``."""
    envelope = verify(envelope_bytes, max_body_bytes=max_body_bytes)
    try:
        from confluent_kafka import KafkaException, Producer
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "submitting needs confluent-kafka: pip install 'mailroom-client[kafka]'"
        ) from error

    producer = Producer(producer_config(brokers, **config))
    report: dict[str, Any] = {}

    def on_delivery(error: Any, message: Any) -> None:
        report["error"] = error
        report["message"] = message

    try:
        producer.produce(topic, value=envelope.raw, key=envelope.recipient, on_delivery=on_delivery)
    except (KafkaException, BufferError) as error:
        raise DeliveryError(f"could not queue the envelope for {topic}: {error}") from None
    remaining = producer.flush(timeout)
    if "error" not in report:
        raise DeliveryError(
            f"no delivery report for {topic} within {timeout:g} s ({remaining} message(s) still queued; "
            f"are the brokers {brokers} reachable?)"
        )
    if report["error"] is not None:
        raise DeliveryError(f"delivery to {topic} failed: {report['error']}")
    message = report["message"]
    return envelope.id.text, message.partition(), message.offset()
