"""The proxy's PostgreSQL database, from the `database` relation (data-platform interfaces)."""

from __future__ import annotations

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

    @property
    def provider(self) -> str | None:
        """The integrated database's application name, if any."""
        relation = self.model.get_relation(DATABASE)
        return relation.app.name if relation is not None and relation.app is not None else None

    def url(self) -> str | None:
        """Return the connection the relation offers, or None while there is none."""
        relation = self.model.get_relation(DATABASE)
        if relation is None or relation.app is None:
            return None
        try:
            answer = self.requirer.interface.build_model(relation.id, component=relation.app)
        except ops.ModelError:  # credentials not shared with this unit yet
            return None
        for response in answer.requests:
            if response.username and response.password and response.endpoints:
                name = response.resource or DATABASE_NAME
                return database_url(response.username, response.password, response.endpoints, name)
        return None
