"""What the hub asks of an edge, answered: an evidence request is answered with the alert's sealed
crop (through the spool, signed when sent); an evidence ack deletes the crop, only if it was sent
for that request and the hub stored exactly what was sent. The publisher has already checked that
the message is the hub's, signed for this device's topic, and recent (edge/publisher.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from google.protobuf.message import Message

from humiao.edge.evidence import EvidenceStore
from humiao.edge.messages import Messages
from humiao.edge.spool import Spool
from humiao.proto import humiao_v1_pb2 as pb

log = logging.getLogger("humiao.edge.hub")


class HubRequests:
    def __init__(
        self,
        spool: Spool,
        evidence: EvidenceStore,
        messages: Messages,
        wake: Callable[[], None],
        count: Callable[[str], None] = lambda _outcome: None,
    ):
        self.spool, self.evidence, self.messages = spool, evidence, messages
        self.wake, self.count = wake, count

    def __call__(self, topic_name: str, msg: Message) -> None:
        if isinstance(msg, pb.EvidenceRequest):
            self._request(msg)
        elif isinstance(msg, pb.EvidenceAck):
            self._ack(msg)

    def _request(self, msg: pb.EvidenceRequest) -> None:
        sealed = self.evidence.get(msg.event_id)
        if sealed is None:
            log.warning(
                "evidence request %s for %s: no crop here (never kept, expired or already sent)",
                msg.request_id,
                msg.event_id,
            )
            return
        log.info(
            "evidence request %s for %s by %s (%s)",
            msg.request_id,
            msg.event_id,
            msg.requested_by,
            pb.EvidenceReason.Name(msg.reason),
        )
        answer = self.messages.evidence(msg.request_id, sealed)
        self.spool.put(
            f"evidence:{msg.request_id}", "evidence", self.messages.topic("evidence"), answer.SerializeToString()
        )
        self.evidence.mark_sent(msg.event_id, msg.request_id)
        self.wake()
        self.count("sent")

    def _ack(self, msg: pb.EvidenceAck) -> None:
        if self.evidence.delete_acked(msg.event_id, msg.request_id, msg.stored_sha256):
            log.info("hub stored evidence for %s (sha256 %s…): deleted here", msg.event_id, msg.stored_sha256[:12])
            self.count("deleted_acked")
        else:
            log.warning(
                "evidence ack for %s (request %s) does not match a crop sent here: kept", msg.event_id, msg.request_id
            )
