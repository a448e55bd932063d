"""The benchmarks' database set-up, in one place: a PostgreSQL database of their own
(kept, or dropped and made afresh), and Django configured on a given database with DEBUG
off (DEBUG keeps every query in memory)."""

import os
import secrets


def _admin_connection(database_url: str):
    import psycopg
    from environ import Env

    config = Env.db_url_config(database_url)
    connection = psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    return connection, config["NAME"]


def database_create(database_url: str, *, fresh: bool = False) -> str:
    """Creates the URL's database if it is missing; `fresh` drops it first (and whoever is
    connected). Returns its name."""
    from psycopg import sql

    admin, name = _admin_connection(database_url)
    with admin:
        if fresh:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def django_configure(database_url: str, *, secret_prefix: str = "bench-") -> None:
    """Django on this database, DEBUG off, the base settings. With DEBUG off the settings
    refuse the demo key: a random one is set unless SECRET_KEY is (a process serving the
    sessions this one writes must share it)."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secret_prefix + secrets.token_urlsafe(32))
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.base"
    import django

    django.setup()
