"""The worker that sends "reply" jobs: what people answered from an item, the office's
acknowledgements, and forwards (with the item's original message attached).

A reply is stored before its job runs, so the worker only reads it and sends it. Its
Message-ID stays the same on every try: a process that dies between sending and
recording sends the reply at most once more, and the receiver can tell the copy. The
relay's 4xx or silence is tried again with the job queue's backoff; a 5xx fails the
reply for good, which the item page and /healthz then show.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from intake.email.reply_mail import reply_email
from intake.jobs.mail_server import SendFailed, send_email
from intake.jobs.worker import ConfiguredJobWorker, Retries
from routing.queues.replies import FORWARD
from routing.store import jobs
from routing.store.database import transaction
from routing.store.jobs import Claim
from routing.store.models import Item, Reply

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

    def do(self, claim: Claim) -> None:
        with transaction(self.sessions, write=False) as session:
            reply = session.get(Reply, claim.payload["reply_id"])
            if reply is None:
                raise SendFailed("the reply is gone", retry=False)
            if reply.channel != "email":
                raise SendFailed(f"replies by {reply.channel} cannot be sent yet", retry=False)
            original = None
            if reply.kind == FORWARD:
                item = session.get(Item, reply.item_id)
                original = item.raw.content if item is not None else None
            message = reply_email(reply, original)
        server = self.settings().outbound.server
        if server is None:
            raise SendFailed("replies by email are not configured ([outbound] smtp)", retry=False)
        send_email(server, message, self.clock())
        log.info("reply %s to item %s sent", claim.payload["reply_id"], claim.item_ids[0])
