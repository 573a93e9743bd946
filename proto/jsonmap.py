"""The JSON mapping of wire messages, for debugging (``humiao mqtt tail``) and logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf.json_format import MessageToDict

from humiao.proto import signing
from humiao.proto.topics import decode


def to_dict(message) -> dict:
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=False)


def render(topic_name: str, payload: bytes) -> str:
    """One line of JSON for a publish: the topic, the kind, the signed envelope's id, time and key id,
    and the message (or why it is not one). The signature is not checked here: the hub and the edge
    check it (hub/verify.py, edge/publisher.py)."""
    try:
        env = signing.unwrap(payload)
        where, message = decode(topic_name, env.body)
        signed_at = datetime.fromtimestamp(env.signed_at_ns / 1e9, UTC).isoformat(timespec="milliseconds")
        return json.dumps(
            {
                "topic": topic_name,
                "kind": where.kind,
                "id": env.id,
                "signed_at": signed_at,
                "key_id": env.key_id,
                "message": to_dict(message),
            },
            ensure_ascii=False,
        )
    except ValueError as err:
        return json.dumps({"topic": topic_name, "error": str(err), "bytes": len(payload)}, ensure_ascii=False)
