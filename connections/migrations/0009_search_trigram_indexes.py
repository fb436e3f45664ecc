"""Trigram indexes behind the admin's searches by Codat connection id and by data type, on
PostgreSQL only (see companies/migrations/0005_search_trigram_indexes.py, which creates the
pg_trgm extension). Nothing on SQLite."""

from django.db import migrations

# (index, model, column): each index is on UPPER(column::text), as the admin's lookup reads.
INDEXES = [
    ("connection_codat_id_trgm", "Connection", "codat_connection_id"),
    ("datasync_data_type_trgm", "DataSync", "data_type"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for name, model, column in INDEXES:
        table = apps.get_model("connections", model)._meta.db_table
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} "
            f"USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _model, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0008_admin_list_and_timeline_indexes"),
        ("companies", "0005_search_trigram_indexes"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
