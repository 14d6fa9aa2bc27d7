"""The proxy's PostgreSQL database, from the `database` relation (data-platform interfaces)."""

from __future__ import annotations

from dataclasses import dataclass, field

import ops
from dpcharmlibs.interfaces import (
    RequirerCommonModel,
    ResourceProviderModel,
    ResourceRequirerEventHandler,
)

from store import database_url

DATABASE = "database"
DATABASE_NAME = "snapproxy-db"
DATABASE_ROLES = "createrole"  # the proxy creates a role per internal service


@dataclass(frozen=True)
class DatabaseAnswer:
    """What the `database` relation holds now."""

    provider: str | None = None  # the database's application name; None: not integrated
    url: str | None = field(default=None, repr=False)  # None until credentials arrive

    @property
    def connection(self) -> str | None:
        """`proxy.db.connection` to set: "" clears stale credentials, None leaves them alone."""
        return self.url if self.provider else ""


class Database(ops.Object):
    """Asks for the proxy's database and turns the answer into `proxy.db.connection`."""

    def __init__(self, charm: ops.CharmBase):
        super().__init__(charm, DATABASE)
        self.requirer = ResourceRequirerEventHandler(
            charm,
            DATABASE,
            [RequirerCommonModel(resource=DATABASE_NAME, extra_user_roles=DATABASE_ROLES)],
            response_model=ResourceProviderModel,
        )

    def read(self) -> DatabaseAnswer:
        """Read the relation once: who provides the database, and the connection it offers."""
        relation = self.model.get_relation(DATABASE)
        if relation is None or relation.app is None:
            return DatabaseAnswer()
        return DatabaseAnswer(relation.app.name, self._url(relation))

    def _url(self, relation: ops.Relation) -> str | None:
        try:
            answer = self.requirer.interface.build_model(relation.id, component=relation.app)
        except ops.ModelError:  # credentials not shared with this unit yet
            return None
        for response in answer.requests:
            if response.username and response.password and response.endpoints:
                name = response.resource or DATABASE_NAME
                return database_url(response.username, response.password, response.endpoints, name)
        return None
