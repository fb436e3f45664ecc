"""The data-use log (P3), append-only in the database like the consent evidence."""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


def protect(apps, schema_editor):
    from consents.db import create_triggers

    create_triggers(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('companies', '0002_pending_signup'),
        ('consents', '0007_retention'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='DataUse',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('occurred_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('purpose', models.CharField(max_length=200)),
                ('reader_kind', models.CharField(choices=[('customer', 'You or a colleague, on the dashboard'), ('staff', 'Our staff'), ('system', 'A scheduled job')], max_length=10)),
                ('reader_name', models.CharField(blank=True, max_length=150)),
                ('outcome', models.CharField(choices=[('read', 'Read'), ('partly_refused', 'Read in part; the rest refused'), ('refused', 'Refused: no live consent covers it'), ('unavailable', 'Nothing to read yet')], max_length=16)),
                ('data_types', models.JSONField(default=list, help_text='Read, from Codat or our copy.')),
                ('refused_data_types', models.JSONField(blank=True, default=list)),
                ('unavailable_data_types', models.JSONField(blank=True, default=list)),
                ('codat_calls', models.PositiveIntegerField(default=0)),
                ('company', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='data_uses', to='companies.company')),
                ('product', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='consents.product')),
                ('reader', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-occurred_at'],
                'indexes': [models.Index(fields=['company', 'product', 'occurred_at'], name='datause_company')],
            },
        ),
        migrations.RunPython(protect, migrations.RunPython.noop),
    ]
