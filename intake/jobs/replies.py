"""The worker that sends "reply" jobs: what people answered from an item, the office's
acknowledgements and forwards (with the item's original message attached), by email
through the office's relay, and answers by text through Twilio.

A reply is stored before its job runs, so the worker only reads it and sends it. An
email's Message-ID stays the same on every try: a relay that read it and gave no answer,
or a process that dies between sending and recording, sends it once more, and the
receiver can tell the copy. Twilio takes no such key, so a text's later tries first look
for the message an earlier one made (intake.phone.texting.find_sent). The relay's 4xx or
silence, Twilio's 429, 5xx or silence, are tried again with the job queue's backoff (and
no sooner than Twilio's Retry-After asks, up to an hour); a 5xx from the relay or a 4xx
from Twilio fails the reply for good, which the item page and /healthz then show.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.email.forward_mail import forwarded_original
from intake.email.reply_mail import reply_email
from intake.jobs.mail_server import SendFailed, send_email
from intake.jobs.worker import ConfiguredJobWorker, Finish, Retries
from intake.phone.texting import find_sent, send_text
from routing.queues import reply_status
from routing.queues.replies import FORWARD, TEXT_CHANNELS
from routing.store import jobs
from routing.store.database import transaction
from routing.store.jobs import Claim
from routing.store.models import Item, Job, Reply

log = logging.getLogger(__name__)


class ReplyWorker(ConfiguredJobWorker):
    """Claims one due reply at a time and sends it by its channel.

    `settings` is called for each job, so a reloaded config's relay applies at once.
    """

    name = "replies"
    kinds = (jobs.REPLY,)

    def retries(self) -> Retries:
        outbound = self.settings().outbound
        return Retries(outbound.max_attempts, timedelta(seconds=outbound.retry_seconds))

    def do(self, claim: Claim) -> Finish | None:
        with transaction(self.sessions, write=False) as session:
            reply = session.get(Reply, claim.payload["reply_id"])
            if reply is None:
                raise SendFailed("the reply is gone", retry=False)
            original = None
            if reply.kind == FORWARD:
                item = session.get(Item, reply.item_id)
                original = forwarded_original(item) if item is not None else None
            others: set[str] = set()
            if reply.channel in TEXT_CHANNELS and claim.attempts > 1:
                others = set(
                    session.scalars(
                        select(Reply.external_id).where(
                            Reply.recipient == reply.recipient,
                            Reply.id != reply.id,
                            Reply.external_id.is_not(None),
                        )
                    )
                )
            session.expunge(reply)  # read alone, used after the session ends
        if reply.channel in TEXT_CHANNELS:
            return self._text(reply, claim.attempts > 1, others)
        server = self.settings().outbound.server
        if server is None:
            raise SendFailed("replies by email are not configured ([outbound] smtp)", retry=False)
        send_email(server, reply_email(reply, original), self.clock())
        log.info("reply %s to item %s sent", reply.id, reply.item_id)
        return None

    def _text(self, reply: Reply, retried: bool, others: set[str]) -> Finish:
        """Send a text reply, unless an earlier try did (`others`: the SIDs of other
        replies to the same number); Twilio's answer is recorded with the job's end, in one
        transaction: should that never happen, the next try finds the same message."""
        settings = self.settings()
        if not settings.twilio.configured:
            raise SendFailed("replies by text are not configured ([twilio] account)", retry=False)
        timeout = settings.outbound.timeout_seconds
        sent = find_sent(settings.twilio, reply, timeout, others) if retried else None
        if sent is not None:
            log.info(
                "reply %s to item %s was taken by Twilio on an earlier try, as %s",
                reply.id,
                reply.item_id,
                sent.sid,
            )
        else:
            sent = send_text(settings.twilio, reply, timeout)
            log.info("reply %s to item %s handed to Twilio as %s", reply.id, reply.item_id, sent.sid)

        def record(session: Session, job: Job) -> None:
            # Locked: a status callback writing the same reply at once must not be undone.
            stored = session.get_one(Reply, reply.id, with_for_update=True)
            stored.external_id = sent.sid
            try:
                reply_status.advance(stored, sent.status)
            except reply_status.StatusRefused as error:  # sent all the same: the job is done
                log.warning("reply %s: Twilio's first status is unknown: %s", reply.id, error)

        return record
