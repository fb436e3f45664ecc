"""Trigram indexes behind the admin's searches, on PostgreSQL only (nothing on SQLite).

The admin searches with `icontains`, which PostgreSQL runs as
`UPPER(column::text) LIKE UPPER('%term%')`: a pattern no B-tree index can serve. A GIN index
of the trigrams (pg_trgm) of exactly that expression can, so a search for a member's email or
a company's name reads the few matching rows instead of every row. Creating the extension
needs the database's owner (pg_trgm is a trusted extension since PostgreSQL 13); where the
app's role is not the owner, have it created first: `CREATE EXTENSION IF NOT EXISTS pg_trgm`.
"""

from django.conf import settings
from django.db import migrations

# (index, model, column): each index is on UPPER(column::text), as the admin's lookup reads.
INDEXES = [
    ("company_name_trgm", "companies.Company", "name"),
    ("company_codat_id_trgm", "companies.Company", "codat_company_id"),
    ("user_email_trgm", settings.AUTH_USER_MODEL, "email"),
    ("user_first_name_trgm", settings.AUTH_USER_MODEL, "first_name"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, model, column in INDEXES:
        table = apps.get_model(model)._meta.db_table
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} "
            f"USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _model, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")
    # The extension stays: something else may use it, and it holds no data.


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0004_admin_list_and_timeline_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
