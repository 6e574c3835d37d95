"""The simulated ECS cluster: which task (ARN, container id, task definition) is running in each slot
of each service at any moment.

Tasks change identity at known times (a crash and restart, a rolling deploy), and every record must
carry the router keys of the task that wrote it, so each slot keeps a short timeline of identities
and a record looks its task up by time.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from random import Random

from logpipe.simulate.catalog import ServiceSpec, hex_id

CLUSTER = "shop-prod"
REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class TaskIdentity:
    """The router keys of one running container (everything but ``log`` and ``source``)."""

    service: str
    revision: int
    keys: dict[str, str]


def new_identity(spec: ServiceSpec, revision: int, rng: Random) -> TaskIdentity:
    task_id = hex_id(rng, 32)
    container_id = hex_id(rng, 64)
    # ECS on EC2 lets Docker name containers ``ecs-FAMILY-REVISION-...-HEX``; FireLens passes that on
    # (here the short ``ecs-FAMILY-REVISION-HEX`` form), so the analysis must derive the service from it.
    name = f"ecs-{spec.name}-{revision}-{hex_id(rng, 20)}" if spec.docker_names else spec.name
    keys = {
        "container_name": name,
        "container_id": container_id,
        "ecs_cluster": CLUSTER,
        "ecs_task_arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{task_id}",
        "ecs_task_definition": f"{spec.name}:{revision}",
    }
    return TaskIdentity(spec.name, revision, keys)


@dataclass
class Slot:
    """One desired task of a service: the identities it had, each from a start time (epoch ms)."""

    starts: list[int] = field(default_factory=list)
    identities: list[TaskIdentity] = field(default_factory=list)

    def at(self, t_ms: int) -> TaskIdentity:
        index = bisect_right(self.starts, t_ms) - 1
        return self.identities[max(index, 0)]

    def replace(self, t_ms: int, identity: TaskIdentity) -> None:
        """From ``t_ms`` on, the slot runs ``identity`` (calls come in time order)."""
        self.starts.append(t_ms)
        self.identities.append(identity)


class Fleet:
    """Every slot of every service, built before any record is written."""

    def __init__(self, specs: tuple[ServiceSpec, ...], start_ms: int, rng: Random):
        self.specs = {spec.name: spec for spec in specs}
        self.slots: dict[str, list[Slot]] = {}
        for spec in specs:
            slots = []
            for _ in range(spec.tasks):
                slot = Slot()
                slot.replace(start_ms, new_identity(spec, spec.family_revision, rng))
                slots.append(slot)
            self.slots[spec.name] = slots

    def identity(self, service: str, slot: int, t_ms: int) -> TaskIdentity:
        return self.slots[service][slot].at(t_ms)
