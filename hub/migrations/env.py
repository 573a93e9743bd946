"""Alembic environment: runs on the connection the hub hands over (hub.db.migrate), or on the URL
of the Alembic config when run by hand (``alembic -c hub/alembic.ini upgrade head``)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from humiao.hub.tables import Base

config = context.config
target_metadata = Base.metadata


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        run(conn)
