"""The knobs of a bulk annotation run (`[service.bulk]`), kept apart from Ray so settings load without it."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

# Writing Parquet is light; Ray's default of a whole CPU per write task would starve the actors.
WRITE_CPUS = 0.1


class BulkOptions(BaseModel):
    """How `python -m inference_service.annotate` spreads work over Ray: actors, their CPUs and batches.

    The actors, the decoding tasks and the writing tasks share the cluster's CPUs, so
    `actors * actor_cpus + decode_cpus + WRITE_CPUS` must fit in it: the run checks this at start
    instead of waiting forever for a free CPU.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    actors: int = Field(1, ge=1, le=1024)  # model-holding actors; each loads the detector and age model once
    actor_cpus: float = Field(1.0, gt=0.0, le=256)  # CPUs Ray reserves for each actor
    threads: int = Field(0, ge=0, le=256)  # actor's model threads where theirs are 0; 0: ceil(actor_cpus)
    decode_cpus: float = Field(0.5, gt=0.0, le=64)  # CPUs Ray reserves for each decoding task
    batch_photos: int = Field(16, ge=1, le=4096)  # photos per actor call; their faces share age batches
    calls_per_actor: int = Field(2, ge=1, le=16)  # batches an actor works on at once, one thread each

    def actor_threads(self) -> int:
        """Threads for each model of an actor: as many as the CPUs it holds, so actors never oversubscribe."""
        return self.threads or max(1, math.ceil(self.actor_cpus))

    def cpus_needed(self, actors: int | None = None) -> float:
        """CPUs a run needs at once: every actor, one decoding task and one writing task."""
        return (actors or self.actors) * self.actor_cpus + self.decode_cpus + WRITE_CPUS
