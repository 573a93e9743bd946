"""Properties of the wire, with Hypothesis: what the hub does with any bytes on any topic.

- ``topics.decode`` and ``validate.parse`` either answer or raise their documented errors (``TopicError`` /
  ``PayloadError``; ``Rejected``) for arbitrary payloads and arbitrary or mutated topics, and valid
  messages of every kind round-trip; what validate.py maps to rows raises only ``Rejected`` too;
- signatures (proto/signing.py) round-trip for arbitrary topics, ids, bodies and times; no single-bit
  flip anywhere in a signed payload yields a different message that verifies; a signature holds for its
  own topic, kind, id, time, body and key only; ``unwrap`` of arbitrary bytes raises only
  ``SignatureError``; a newline in a topic or an id is refused;
- the hub's check of what comes off the broker (hub/verify.py ``Verifier``), over random and mutated
  signed payloads: ``Rejected``, or exactly the message that was signed;
- a bounded fuzz run (~2000 examples each) of the decoder and the validation over random bytes and
  mutations (bit flips, inserted, deleted, duplicated bytes, truncations) of real serialized messages.

No example database is kept (``database=None``): every run explores afresh; a failure prints its seed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from humiao.hub.config import SecurityConfig
from humiao.hub.devices import KnownKey
from humiao.hub.validate import Parsed, Rejected, alert_row, check_device_message, idcheck_row
from humiao.hub.validate import parse as validate_parse
from humiao.hub.verify import Verified, Verifier
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import signing
from humiao.proto.signing import SignatureError, Signer, signing_input, unwrap, verify
from humiao.proto.topics import (
    EDGE_KINDS,
    HUB_KINDS,
    KINDS,
    MAX_PAYLOAD,
    SEGMENT,
    PayloadError,
    Topic,
    TopicError,
    decode,
    topic,
)

from tests.support.services import sample_alert

FUZZ = settings(
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROPERTY = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

SIGNER = Signer(Ed25519PrivateKey.generate())
OTHER = Signer(Ed25519PrivateKey.generate())
ORIGIN = ("d1", "ktv1", "edge1")
NOW = 1_790_000_000.0  # the "now" of the hub's checks below; signatures are made at it


# -- strategies ---------------------------------------------------------------------------------------

segments = st.from_regex(SEGMENT, fullmatch=True)
kinds = st.sampled_from(sorted(KINDS))
# protobuf strings are UTF-8: any text without lone surrogates
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
ids = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=signing.MAX_ID)
# Timestamp's range, 0001-01-01 … 9999-12-31
MIN_S, MAX_S = -62_135_596_800, 253_402_300_799
times = st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False)  # as Signer.sign takes them: 1970 … 2100

_SCALARS = {
    FieldDescriptor.CPPTYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_UINT64: st.integers(0, 2**64 - 1),
    FieldDescriptor.CPPTYPE_FLOAT: st.floats(width=32, allow_nan=False),
    FieldDescriptor.CPPTYPE_DOUBLE: st.floats(allow_nan=False),
    FieldDescriptor.CPPTYPE_BOOL: st.booleans(),
}


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy:
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return st.builds(
                lambda s, n: {"seconds": s, "nanos": n}, st.integers(MIN_S, MAX_S), st.integers(0, 999_999_999)
            )
        return messages(message_factory.GetMessageClass(field.message_type), depth + 1)
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:  # proto3 enums are open: unknown numbers parse too
        return st.sampled_from([v.number for v in field.enum_type.values]) | st.integers(-(2**31), 2**31 - 1)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return texts
    return _SCALARS[field.cpp_type]


def messages(cls: type[Message], depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of ``cls`` (every field drawn or left unset; repeated fields up to 3 long)."""
    fields = [f for f in cls.DESCRIPTOR.fields if depth < 2 or f.cpp_type != FieldDescriptor.CPPTYPE_MESSAGE]
    parts = {f.name: (st.lists(_value(f, depth), max_size=3) if f.is_repeated else _value(f, depth)) for f in fields}

    def build(values: dict) -> Message:
        m = cls()
        for name, v in values.items():
            field = cls.DESCRIPTOR.fields_by_name[name]
            target = getattr(m, name) if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE else None
            if field.is_repeated and target is not None:
                for item in v:
                    target.add().CopyFrom(item)
            elif field.is_repeated:
                getattr(m, name).extend(v)
            elif target is not None and isinstance(v, dict):  # a Timestamp
                target.seconds, target.nanos = v["seconds"], v["nanos"]
            elif target is not None:
                target.CopyFrom(v)
            else:
                setattr(m, name, v)
        return m

    return st.fixed_dictionaries({}, optional=parts).map(build)


def valid_alert() -> tuple[str, pb.Alert]:
    """A valid CHECK ID alert of ORIGIN, as the edge sends it (tests/support/services.py ``sample_alert``)."""
    t, payload, _eid = sample_alert(ORIGIN, first_seen=NOW - 1)
    msg = pb.Alert()
    msg.ParseFromString(payload)
    msg.decided_at.FromSeconds(int(NOW))  # decided at NOW, whatever this machine's clock says
    return t, msg


ALERT_TOPIC, ALERT = valid_alert()
STATUS = pb.Status(origin=pb.Origin(district_id="d1", venue_id="ktv1", device_id="edge1"), online=True)
STATUS.cameras.add(camera_id="cam0")
STATUS.sent_at.FromSeconds(int(NOW))
# real serialized messages to mutate: an alert, a status, and a signed alert as it travels
SEEDS = (
    ALERT.SerializeToString(),
    STATUS.SerializeToString(),
    SIGNER.sign(ALERT_TOPIC, ALERT.event_id, ALERT.SerializeToString(), NOW),
)


@st.composite
def mutated(draw, seeds=SEEDS) -> bytes:
    """A real payload with 1 to 6 mutations: bit flips, inserted, deleted, duplicated bytes, truncation."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "duplicate", "truncate", "byte")))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and data:
            data[at] = draw(st.sampled_from((0x00, 0x7F, 0x80, 0xFF, 0x08, 0x0A, 0x12, 0x1A)))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


def _mutate_topic(name: str, edits: list[tuple[int, str]]) -> str:
    for at, piece in edits:
        at %= len(name) + 1
        name = name[:at] + piece + name[at + 1 :] if piece == "" else name[:at] + piece + name[at:]
    return name


valid_topics = st.builds(topic, segments, segments, segments, kinds)
mutated_topics = st.builds(
    _mutate_topic,
    valid_topics,
    st.lists(
        st.tuples(
            st.integers(0, 200),
            st.sampled_from(["", "/", "+", "#", "\n", " ", "A", "v2", "$share/g/", "\x00", "é", "/x", ".."]) | texts,
        ),
        min_size=1,
        max_size=3,
    ),
)
any_topics = st.one_of(valid_topics, mutated_topics, texts, st.just(ALERT_TOPIC))
payloads = st.one_of(st.binary(max_size=512), mutated())


# -- the decoder and the validation ---------------------------------------------------------------


def _decoded_or_documented_error(name: str, payload: bytes):
    try:
        where, msg = decode(name, payload)
    except (TopicError, PayloadError) as err:
        event(f"decode: {type(err).__name__}")
        return None
    event("decode: decoded")
    assert str(where) == name  # only a canonical topic decodes (no trailing newline, no wildcard)
    assert isinstance(msg, KINDS[where.kind])
    return where, msg


def _validated_or_rejected(name: str, payload: bytes) -> None:
    """validate.parse, then what ingest maps the message to: answers, or ``Rejected`` — nothing else."""
    try:
        parsed = validate_parse(name, payload)
    except Rejected as err:
        assert err.reason in ("topic", "oversized", "decode"), err.reason
        event(f"parse: {err.reason}")
        return
    if parsed is None:
        assert name.rsplit("/", 1)[-1] in HUB_KINDS
        return
    assert isinstance(parsed, Parsed) and parsed.where.kind in EDGE_KINDS
    msg, where, now = parsed.message, parsed.where, datetime.now(UTC)
    try:
        if where.kind == "alert":
            row = alert_row(msg, where, now)
            assert (row["district_id"], row["venue_id"], row["device_id"]) == (
                where.district,
                where.venue,
                where.device,
            )
        elif where.kind == "idcheck":
            idcheck_row(msg, where, now)
        elif where.kind in ("status", "birth", "death"):
            check_device_message(msg, where)
    except Rejected as err:
        assert err.reason == "invalid", err.reason
        event(f"{where.kind}: invalid")
        return
    event(f"{where.kind}: valid")


@FUZZ
@given(name=any_topics, payload=payloads)
def test_fuzz_decode_answers_or_raises_topic_or_payload_error(name, payload):
    _decoded_or_documented_error(name, payload)


@FUZZ
@given(
    payload=payloads, name=st.one_of(st.sampled_from([topic(*ORIGIN, k) for k in KINDS]), valid_topics, mutated_topics)
)
def test_fuzz_validate_answers_or_rejects(name, payload):
    _validated_or_rejected(name, payload)


@FUZZ
@given(payload=mutated(SEEDS[:1]))
def test_fuzz_mutated_alerts_on_their_topic(payload):
    """The real alert, damaged, on its own topic: decoded ones go all the way through alert_row."""
    _validated_or_rejected(ALERT_TOPIC, payload)


def test_oversized_payloads_are_refused_before_decoding():
    big = b"\x00" * (MAX_PAYLOAD + 1)
    with pytest.raises(PayloadError):
        decode(ALERT_TOPIC, big)
    with pytest.raises(Rejected) as err:
        validate_parse(ALERT_TOPIC, big)
    assert err.value.reason == "oversized"


@st.composite
def kind_and_message(draw):
    kind = draw(kinds)
    return kind, draw(messages(KINDS[kind]))


@PROPERTY
@given(where=st.tuples(segments, segments, segments), km=kind_and_message())
def test_valid_messages_of_every_kind_round_trip(where, km):
    kind, msg = km
    name = topic(*where, kind)
    decoded_where, back = decode(name, msg.SerializeToString())
    assert decoded_where == Topic(*where, kind) and back == msg
    parsed = validate_parse(name, msg.SerializeToString())
    if kind in HUB_KINDS:
        assert parsed is None
    else:
        assert parsed is not None and parsed.where == decoded_where and parsed.message == msg


def test_the_sample_alert_is_valid_end_to_end():
    parsed = validate_parse(ALERT_TOPIC, ALERT.SerializeToString())
    assert parsed is not None
    row = alert_row(parsed.message, parsed.where, datetime.now(UTC))
    assert row["event_id"] == ALERT.event_id and row["decision"] == "check_id"


# -- signatures -----------------------------------------------------------------------------------

signed_topics = st.one_of(valid_topics, st.text(st.characters(exclude_categories=("Cs", "Cc"))))


@PROPERTY
@given(name=signed_topics, message_id=ids, body=st.binary(max_size=256), at=times)
def test_sign_unwrap_verify_round_trip(name, message_id, body, at):
    env = unwrap(SIGNER.sign(name, message_id, body, at))
    assert (env.id, env.body, env.key_id) == (message_id, body, SIGNER.key_id)
    assert env.signed_at_ns == round(at * 1e6) * 1000 and len(env.signature) == 64  # whole microseconds
    verify(env, name, SIGNER.public)


def _signed_fields(env: signing.Envelope) -> tuple:
    """What the signature covers (with the topic): id, time, body; and the signature itself."""
    return env.id, env.signed_at_ns, env.body, env.signature


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=valid_topics,
    message_id=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=40),
    body=st.one_of(st.binary(max_size=48), st.just(ALERT.SerializeToString())),
    at=times,
)
def test_no_single_bit_flip_yields_another_message_that_verifies(name, message_id, body, at):
    """Every bit of a signed payload, flipped: ``unwrap`` or ``verify`` raises SignatureError, or the
    envelope is the original in every signed field (and then it verifies). The key id is not signed — it
    names the key — so a flip there may verify: the hub compares it with the device's enrolled key
    (test_the_hub_takes_a_damaged_signed_message_only_when_it_is_the_original)."""
    payload = SIGNER.sign(name, message_id, body, at)
    original = unwrap(payload)
    for bit in range(len(payload) * 8):
        flipped = bytearray(payload)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            env = unwrap(bytes(flipped))
        except SignatureError:
            continue
        try:
            verify(env, name, SIGNER.public)
        except SignatureError:
            assert _signed_fields(env) != _signed_fields(original), f"bit {bit}: the original failed to verify"
            continue
        assert _signed_fields(env) == _signed_fields(original), f"bit {bit}: a different message verified"
        assert env == original or env.key_id != original.key_id


@PROPERTY
@given(
    name=valid_topics,
    other=valid_topics,
    other_kind=kinds,
    message_id=ids,
    other_id=ids,
    body=st.binary(max_size=128),
    other_body=st.binary(max_size=128),
    at=times,
    shift=st.integers(-(10**12), 10**12).filter(bool),
)
def test_a_signature_holds_for_its_own_topic_kind_id_time_body_and_key_only(
    name, other, other_kind, message_id, other_id, body, other_body, at, shift
):
    env = unwrap(SIGNER.sign(name, message_id, body, at))
    verify(env, name, SIGNER.public)
    prefix, kind = name.rsplit("/", 1)
    wrong: list[tuple[signing.Envelope, str]] = []
    if other != name:
        wrong.append((env, other))
    if other_kind != kind:
        wrong.append((env, f"{prefix}/{other_kind}"))
    if other_id != message_id:
        wrong.append((dataclasses.replace(env, id=other_id), name))
    wrong.append((dataclasses.replace(env, signed_at_ns=env.signed_at_ns + shift), name))
    if other_body != body:
        wrong.append((dataclasses.replace(env, body=other_body), name))
    for candidate, on_topic in wrong:
        with pytest.raises(SignatureError):
            verify(candidate, on_topic, SIGNER.public)
    with pytest.raises(SignatureError):
        verify(env, name, OTHER.public)  # another key
    env_by_other = unwrap(OTHER.sign(name, message_id, body, at))
    with pytest.raises(SignatureError):
        verify(dataclasses.replace(env_by_other, key_id=SIGNER.key_id), name, SIGNER.public)


@FUZZ
@given(payload=st.one_of(st.binary(max_size=512), mutated()))
def test_fuzz_unwrap_raises_only_signature_error(payload):
    try:
        env = unwrap(payload)
    except SignatureError:
        return
    assert env.id and env.key_id and len(env.signature) == 64 and len(env.id) <= signing.MAX_ID


@PROPERTY
@given(
    before=st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    after=st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    body=st.binary(max_size=32),
)
def test_a_newline_in_an_id_or_a_topic_is_refused(before, after, body):
    with_newline = f"{before}\n{after}"
    with pytest.raises(SignatureError, match="newline"):
        signing_input(ALERT_TOPIC, with_newline, 0, body)
    with pytest.raises(SignatureError, match="newline"):
        signing_input(with_newline, "id-1", 0, body)
    with pytest.raises(SignatureError):
        SIGNER.sign(ALERT_TOPIC, with_newline, body, NOW)
    # made by hand, not by Signer: it unwraps, and verifying refuses it rather than signing a run-on input
    env = pb.Signed(id=with_newline, body=body, key_id=SIGNER.key_id, signature=b"\x00" * 64)
    env.signed_at.FromSeconds(int(NOW))
    with pytest.raises(SignatureError, match="newline"):
        verify(unwrap(env.SerializeToString()), ALERT_TOPIC, SIGNER.public)


def test_ids_longer_than_max_id_do_not_unwrap():
    with pytest.raises(SignatureError, match="too long"):
        unwrap(SIGNER.sign(ALERT_TOPIC, "x" * (signing.MAX_ID + 1), b"", NOW))


# -- what the hub takes off the broker (hub/verify.py) -------------------------------------------


class _Keys:
    """A key ring of two enrolled devices: ORIGIN (SIGNER) and d1/ktv1/edge2 (OTHER)."""

    def __init__(self):
        self.keys = {
            SIGNER.key_id: KnownKey(SIGNER.key_id, ORIGIN, SIGNER.public, False),
            OTHER.key_id: KnownKey(OTHER.key_id, ("d1", "ktv1", "edge2"), OTHER.public, False),
        }

    def active(self, device):
        return next((k for k in self.keys.values() if k.device == device and not k.revoked), None)

    def by_id(self, key_id):
        return self.keys.get(key_id)


def _check(name: str, payload: bytes) -> Verified | None:
    return Verifier(_Keys(), SecurityConfig()).check(name, payload, now=NOW)


SIGNED_ALERT = SEEDS[2]


def test_the_hub_takes_the_signed_alert():
    got = _check(ALERT_TOPIC, SIGNED_ALERT)
    assert got is not None and got.message == ALERT and got.envelope == unwrap(SIGNED_ALERT)


def test_the_hub_takes_a_damaged_signed_message_only_when_it_is_the_original():
    """Every single-bit flip of a signed alert: ``Rejected``, or the very envelope and alert signed."""
    original = unwrap(SIGNED_ALERT)
    taken = 0
    for bit in range(len(SIGNED_ALERT) * 8):
        flipped = bytearray(SIGNED_ALERT)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            got = _check(ALERT_TOPIC, bytes(flipped))
        except Rejected:
            continue
        assert got is not None and got.envelope == original and got.message == ALERT, f"bit {bit}"
        taken += 1
    assert taken == 0  # (no flip keeps every field: each one is seen by a field or the signature)


@FUZZ
@given(payload=st.one_of(mutated(SEEDS[2:]), st.binary(max_size=256)), name=st.one_of(st.just(ALERT_TOPIC), any_topics))
def test_fuzz_the_hub_rejects_or_takes_exactly_what_was_signed(name, payload):
    try:
        got = _check(name, payload)
    except Rejected:
        return
    if got is None:  # the hub's own kinds are not its business
        assert name.rsplit("/", 1)[-1] in HUB_KINDS
        return
    assert name == ALERT_TOPIC and got.envelope == unwrap(SIGNED_ALERT) and got.message == ALERT
