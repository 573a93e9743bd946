import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_CHECK_ID: _ClassVar[Decision]
    DECISION_PASS: _ClassVar[Decision]

class VenueType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VENUE_TYPE_UNSPECIFIED: _ClassVar[VenueType]
    VENUE_TYPE_KTV: _ClassVar[VenueType]
    VENUE_TYPE_BAR: _ClassVar[VenueType]
    VENUE_TYPE_INTERNET_CAFE: _ClassVar[VenueType]
    VENUE_TYPE_ARCADE: _ClassVar[VenueType]
    VENUE_TYPE_HOTEL: _ClassVar[VenueType]
    VENUE_TYPE_ESPORTS_HOTEL: _ClassVar[VenueType]
    VENUE_TYPE_SCRIPT_ENTERTAINMENT: _ClassVar[VenueType]

class EvidenceReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVIDENCE_REASON_UNSPECIFIED: _ClassVar[EvidenceReason]
    EVIDENCE_REASON_VIOLATION_CONFIRMED: _ClassVar[EvidenceReason]
    EVIDENCE_REASON_INSPECTOR_REQUEST: _ClassVar[EvidenceReason]

class IdCheckResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ID_CHECK_RESULT_UNSPECIFIED: _ClassVar[IdCheckResult]
    ID_CHECK_RESULT_ADULT_ADMITTED: _ClassVar[IdCheckResult]
    ID_CHECK_RESULT_MINOR_REFUSED: _ClassVar[IdCheckResult]
    ID_CHECK_RESULT_MINOR_ADMITTED: _ClassVar[IdCheckResult]
    ID_CHECK_RESULT_NO_ID_REFUSED: _ClassVar[IdCheckResult]
    ID_CHECK_RESULT_NOT_CHECKED: _ClassVar[IdCheckResult]
    ID_CHECK_RESULT_MINOR_ADMITTED_WITH_GUARDIAN: _ClassVar[IdCheckResult]
    ID_CHECK_RESULT_LEFT_BEFORE_CHECK: _ClassVar[IdCheckResult]

class DocumentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_TYPE_UNSPECIFIED: _ClassVar[DocumentType]
    DOCUMENT_TYPE_CITIZEN_ID: _ClassVar[DocumentType]
    DOCUMENT_TYPE_PASSPORT: _ClassVar[DocumentType]
    DOCUMENT_TYPE_HK_MACAO_PERMIT: _ClassVar[DocumentType]
    DOCUMENT_TYPE_TAIWAN_PERMIT: _ClassVar[DocumentType]
    DOCUMENT_TYPE_FOREIGN_PERMANENT_RESIDENCE: _ClassVar[DocumentType]
    DOCUMENT_TYPE_OTHER: _ClassVar[DocumentType]

class ReadMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    READ_METHOD_UNSPECIFIED: _ClassVar[ReadMethod]
    READ_METHOD_CHIP: _ClassVar[ReadMethod]
    READ_METHOD_OCR: _ClassVar[ReadMethod]
    READ_METHOD_MANUAL: _ClassVar[ReadMethod]

class CameraState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMERA_STATE_UNSPECIFIED: _ClassVar[CameraState]
    CAMERA_STATE_STREAMING: _ClassVar[CameraState]
    CAMERA_STATE_RECONNECTING: _ClassVar[CameraState]
    CAMERA_STATE_STALLED: _ClassVar[CameraState]
    CAMERA_STATE_DOWN: _ClassVar[CameraState]
DECISION_UNSPECIFIED: Decision
DECISION_CHECK_ID: Decision
DECISION_PASS: Decision
VENUE_TYPE_UNSPECIFIED: VenueType
VENUE_TYPE_KTV: VenueType
VENUE_TYPE_BAR: VenueType
VENUE_TYPE_INTERNET_CAFE: VenueType
VENUE_TYPE_ARCADE: VenueType
VENUE_TYPE_HOTEL: VenueType
VENUE_TYPE_ESPORTS_HOTEL: VenueType
VENUE_TYPE_SCRIPT_ENTERTAINMENT: VenueType
EVIDENCE_REASON_UNSPECIFIED: EvidenceReason
EVIDENCE_REASON_VIOLATION_CONFIRMED: EvidenceReason
EVIDENCE_REASON_INSPECTOR_REQUEST: EvidenceReason
ID_CHECK_RESULT_UNSPECIFIED: IdCheckResult
ID_CHECK_RESULT_ADULT_ADMITTED: IdCheckResult
ID_CHECK_RESULT_MINOR_REFUSED: IdCheckResult
ID_CHECK_RESULT_MINOR_ADMITTED: IdCheckResult
ID_CHECK_RESULT_NO_ID_REFUSED: IdCheckResult
ID_CHECK_RESULT_NOT_CHECKED: IdCheckResult
ID_CHECK_RESULT_MINOR_ADMITTED_WITH_GUARDIAN: IdCheckResult
ID_CHECK_RESULT_LEFT_BEFORE_CHECK: IdCheckResult
DOCUMENT_TYPE_UNSPECIFIED: DocumentType
DOCUMENT_TYPE_CITIZEN_ID: DocumentType
DOCUMENT_TYPE_PASSPORT: DocumentType
DOCUMENT_TYPE_HK_MACAO_PERMIT: DocumentType
DOCUMENT_TYPE_TAIWAN_PERMIT: DocumentType
DOCUMENT_TYPE_FOREIGN_PERMANENT_RESIDENCE: DocumentType
DOCUMENT_TYPE_OTHER: DocumentType
READ_METHOD_UNSPECIFIED: ReadMethod
READ_METHOD_CHIP: ReadMethod
READ_METHOD_OCR: ReadMethod
READ_METHOD_MANUAL: ReadMethod
CAMERA_STATE_UNSPECIFIED: CameraState
CAMERA_STATE_STREAMING: CameraState
CAMERA_STATE_RECONNECTING: CameraState
CAMERA_STATE_STALLED: CameraState
CAMERA_STATE_DOWN: CameraState

class Signed(_message.Message):
    __slots__ = ("id", "signed_at", "body", "key_id", "signature")
    ID_FIELD_NUMBER: _ClassVar[int]
    SIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    id: str
    signed_at: _timestamp_pb2.Timestamp
    body: bytes
    key_id: str
    signature: bytes
    def __init__(self, id: _Optional[str] = ..., signed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., body: _Optional[bytes] = ..., key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Origin(_message.Message):
    __slots__ = ("district_id", "venue_id", "device_id", "camera_id")
    DISTRICT_ID_FIELD_NUMBER: _ClassVar[int]
    VENUE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    district_id: str
    venue_id: str
    device_id: str
    camera_id: str
    def __init__(self, district_id: _Optional[str] = ..., venue_id: _Optional[str] = ..., device_id: _Optional[str] = ..., camera_id: _Optional[str] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("id", "graph_sha256")
    ID_FIELD_NUMBER: _ClassVar[int]
    GRAPH_SHA256_FIELD_NUMBER: _ClassVar[int]
    id: str
    graph_sha256: str
    def __init__(self, id: _Optional[str] = ..., graph_sha256: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("event_id", "origin", "track_id", "first_seen", "decided_at", "age_estimate", "p_minor", "p_under_threshold", "threshold", "decision", "venue_type", "frames_used", "models", "policy_version", "evidence_available", "calibration")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    AGE_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    P_MINOR_FIELD_NUMBER: _ClassVar[int]
    P_UNDER_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    VENUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_USED_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    origin: Origin
    track_id: int
    first_seen: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    age_estimate: float
    p_minor: float
    p_under_threshold: float
    threshold: float
    decision: Decision
    venue_type: VenueType
    frames_used: int
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    policy_version: str
    evidence_available: bool
    calibration: str
    def __init__(self, event_id: _Optional[str] = ..., origin: _Optional[_Union[Origin, _Mapping]] = ..., track_id: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., age_estimate: _Optional[float] = ..., p_minor: _Optional[float] = ..., p_under_threshold: _Optional[float] = ..., threshold: _Optional[float] = ..., decision: _Optional[_Union[Decision, str]] = ..., venue_type: _Optional[_Union[VenueType, str]] = ..., frames_used: _Optional[int] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ..., policy_version: _Optional[str] = ..., evidence_available: _Optional[bool] = ..., calibration: _Optional[str] = ...) -> None: ...

class EvidenceRequest(_message.Message):
    __slots__ = ("request_id", "event_id", "reason", "requested_by", "requested_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event_id: str
    reason: EvidenceReason
    requested_by: str
    requested_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., event_id: _Optional[str] = ..., reason: _Optional[_Union[EvidenceReason, str]] = ..., requested_by: _Optional[str] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("request_id", "event_id", "ciphertext", "cipher", "plaintext_sha256", "captured_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    CIPHER_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_SHA256_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event_id: str
    ciphertext: bytes
    cipher: str
    plaintext_sha256: str
    captured_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., event_id: _Optional[str] = ..., ciphertext: _Optional[bytes] = ..., cipher: _Optional[str] = ..., plaintext_sha256: _Optional[str] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EvidenceAck(_message.Message):
    __slots__ = ("request_id", "event_id", "stored_sha256")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_SHA256_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    event_id: str
    stored_sha256: str
    def __init__(self, request_id: _Optional[str] = ..., event_id: _Optional[str] = ..., stored_sha256: _Optional[str] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("keys", "stored_at")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    STORED_AT_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    stored_at: _timestamp_pb2.Timestamp
    def __init__(self, keys: _Optional[_Iterable[str]] = ..., stored_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IdCheckOutcome(_message.Message):
    __slots__ = ("event_id", "check_id", "origin", "checked_at", "result", "age_years", "under_14", "id_keyed_hash", "checksum_valid", "document", "method", "age_known", "walk_up", "guardian_contact_recorded", "co_occupants_recorded", "staff", "alerted_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHECK_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    AGE_YEARS_FIELD_NUMBER: _ClassVar[int]
    UNDER_14_FIELD_NUMBER: _ClassVar[int]
    ID_KEYED_HASH_FIELD_NUMBER: _ClassVar[int]
    CHECKSUM_VALID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    AGE_KNOWN_FIELD_NUMBER: _ClassVar[int]
    WALK_UP_FIELD_NUMBER: _ClassVar[int]
    GUARDIAN_CONTACT_RECORDED_FIELD_NUMBER: _ClassVar[int]
    CO_OCCUPANTS_RECORDED_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    ALERTED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    check_id: str
    origin: Origin
    checked_at: _timestamp_pb2.Timestamp
    result: IdCheckResult
    age_years: int
    under_14: bool
    id_keyed_hash: str
    checksum_valid: bool
    document: DocumentType
    method: ReadMethod
    age_known: bool
    walk_up: bool
    guardian_contact_recorded: bool
    co_occupants_recorded: bool
    staff: str
    alerted_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., check_id: _Optional[str] = ..., origin: _Optional[_Union[Origin, _Mapping]] = ..., checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., result: _Optional[_Union[IdCheckResult, str]] = ..., age_years: _Optional[int] = ..., under_14: _Optional[bool] = ..., id_keyed_hash: _Optional[str] = ..., checksum_valid: _Optional[bool] = ..., document: _Optional[_Union[DocumentType, str]] = ..., method: _Optional[_Union[ReadMethod, str]] = ..., age_known: _Optional[bool] = ..., walk_up: _Optional[bool] = ..., guardian_contact_recorded: _Optional[bool] = ..., co_occupants_recorded: _Optional[bool] = ..., staff: _Optional[str] = ..., alerted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CameraStatus(_message.Message):
    __slots__ = ("camera_id", "state", "fps", "frames_skipped", "reconnects", "state_since")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    STATE_SINCE_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    state: CameraState
    fps: float
    frames_skipped: int
    reconnects: int
    state_since: _timestamp_pb2.Timestamp
    def __init__(self, camera_id: _Optional[str] = ..., state: _Optional[_Union[CameraState, str]] = ..., fps: _Optional[float] = ..., frames_skipped: _Optional[int] = ..., reconnects: _Optional[int] = ..., state_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("origin", "online", "sent_at", "cameras", "spool_depth", "spool_bytes", "uptime_s", "software_version")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    SPOOL_DEPTH_FIELD_NUMBER: _ClassVar[int]
    SPOOL_BYTES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    origin: Origin
    online: bool
    sent_at: _timestamp_pb2.Timestamp
    cameras: _containers.RepeatedCompositeFieldContainer[CameraStatus]
    spool_depth: int
    spool_bytes: int
    uptime_s: float
    software_version: str
    def __init__(self, origin: _Optional[_Union[Origin, _Mapping]] = ..., online: _Optional[bool] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cameras: _Optional[_Iterable[_Union[CameraStatus, _Mapping]]] = ..., spool_depth: _Optional[int] = ..., spool_bytes: _Optional[int] = ..., uptime_s: _Optional[float] = ..., software_version: _Optional[str] = ...) -> None: ...

class Birth(_message.Message):
    __slots__ = ("origin", "started_at", "software_version", "models", "venue_type", "challenge_threshold")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    VENUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    origin: Origin
    started_at: _timestamp_pb2.Timestamp
    software_version: str
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    venue_type: VenueType
    challenge_threshold: float
    def __init__(self, origin: _Optional[_Union[Origin, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., software_version: _Optional[str] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ..., venue_type: _Optional[_Union[VenueType, str]] = ..., challenge_threshold: _Optional[float] = ...) -> None: ...

class Death(_message.Message):
    __slots__ = ("origin", "at", "reason")
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    origin: Origin
    at: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, origin: _Optional[_Union[Origin, _Mapping]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...
