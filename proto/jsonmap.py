"""The JSON mapping of wire messages, for debugging (``humiao mqtt tail``) and logs."""

from __future__ import annotations

import json

from google.protobuf.json_format import MessageToDict

from humiao.proto.topics import decode


def to_dict(message) -> dict:
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=False)


def render(topic_name: str, payload: bytes) -> str:
    """One line of JSON for a publish: the topic, the kind and the message (or why it is not one)."""
    try:
        where, message = decode(topic_name, payload)
        return json.dumps({"topic": topic_name, "kind": where.kind, "message": to_dict(message)}, ensure_ascii=False)
    except ValueError as err:
        return json.dumps({"topic": topic_name, "error": str(err), "bytes": len(payload)}, ensure_ascii=False)
