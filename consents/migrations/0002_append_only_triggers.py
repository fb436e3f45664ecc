from django.db import migrations


def forwards(apps, schema_editor):
    from consents.db import create_triggers

    create_triggers(schema_editor.connection)


def backwards(apps, schema_editor):
    from consents.db import drop_triggers

    drop_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("consents", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
