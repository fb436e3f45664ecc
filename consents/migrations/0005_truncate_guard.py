from django.db import migrations


def forwards(apps, schema_editor):
    from consents.db import create_truncate_guard

    create_truncate_guard(schema_editor.connection)


def backwards(apps, schema_editor):
    from consents.db import drop_truncate_guard

    drop_truncate_guard(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("consents", "0004_banking_clock")]

    operations = [migrations.RunPython(forwards, backwards)]
