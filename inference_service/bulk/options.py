"""The knobs of a bulk annotation run (`[service.bulk]`), kept apart from Ray so settings load without it."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class BulkOptions(BaseModel):
    """How `python -m inference_service.annotate` spreads work over Ray: actors, their CPUs and batches.

    The actors and the decoding tasks share the cluster's CPUs, so `actors * actor_cpus + decode_cpus`
    must fit in it: the run checks this at start instead of waiting forever for a free CPU. The rows are
    written by the driver (or, through Ray Client, by a task that reserves no CPU), in parts of at most
    `file_sources` sources or `file_seconds` of work, so a stopped run keeps what it wrote.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    actors: int = Field(1, ge=1, le=1024)  # model-holding actors; each loads the detector and age model once
    actor_cpus: float = Field(1.0, gt=0.0, le=256)  # CPUs Ray reserves for each actor
    threads: int = Field(0, ge=0, le=256)  # actor's model threads where theirs are 0; 0: ceil(actor_cpus)
    decode_cpus: float = Field(0.5, gt=0.0, le=64)  # CPUs Ray reserves for each decoding task
    batch_photos: int = Field(16, ge=1, le=4096)  # photos per actor call; their faces share age batches
    calls_per_actor: int = Field(2, ge=1, le=16)  # batches an actor works on at once, one thread each
    file_sources: int = Field(500, ge=1, le=1_000_000)  # sources per Parquet part at most
    file_seconds: float = Field(60.0, gt=0.0, le=3600)  # a part is written after this much work at most

    def actor_threads(self) -> int:
        """Threads for each model of an actor: as many as the CPUs it holds, so actors never oversubscribe."""
        return self.threads or max(1, math.ceil(self.actor_cpus))

    def cpus_needed(self, actors: int | None = None) -> float:
        """CPUs a run needs at once: every actor and one decoding task."""
        return (actors or self.actors) * self.actor_cpus + self.decode_cpus
