"""A deduplicating consumer: exactly-once effects on an at-least-once broker.

Edit this file; keep the names and signatures. ``messaging.py`` is the kit's: read it,
import from it, do not edit it (the grader uses its own copy).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from messaging import Broker, Message, Store, Tx

Handler = Callable[[Message, Tx], Awaitable[None]]  # stages the message's effects into tx


class DedupConsumer:
    """Consumes deliveries from ``broker`` and commits each message's effects exactly once.

    ``handler(message, tx)`` stages the message's effects into the store transaction
    ``tx``; the consumer decides when to open, commit, retry or abandon that transaction
    and when to ack, nack or dead-letter the delivery. See README.md for the rules.
    """

    def __init__(
        self,
        broker: Broker,
        store: Store,
        handler: Handler,
        *,
        max_attempts: int = 5,
        concurrency: int = 1,
        dedup_window: float = 86400.0,
    ) -> None:
        """Raises ValueError for max_attempts < 1, concurrency < 1 or dedup_window <= 0."""
        raise NotImplementedError

    async def run(self, stop: anyio.Event) -> None:
        """Consume until ``stop`` is set, then return soon (see rule 4)."""
        raise NotImplementedError
