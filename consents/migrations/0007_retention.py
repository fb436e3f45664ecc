"""Retention as data: each wording version carries the period it promises, and deletions at
Codat are scheduled and recorded.

The two shipped wordings are filled from what they say. Business insights: "we delete what we
hold for this product within 30 days". Lending: "for six years after it ends; then we delete
it". Six years are kept as 2192 days, enough for any six calendar years with their leap days,
so the deletion is never early. Wording this migration does not recognise gets the longest
shipped period, and staff publish a new version to say otherwise (docs/promises.md P1).

The evidence triggers are lifted while the wording rows are filled in, and laid again over the
new DeletionRecord table too.
"""

import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models

INSIGHTS_DAYS = 30
SIX_YEARS_DAYS = 6 * 365 + 2

KNOWN_PROMISES = [
    ("within 30 days", INSIGHTS_DAYS, "deleted within 30 days of when you stop sharing"),
    (
        "six years after it ends",
        SIX_YEARS_DAYS,
        "kept for six years after you stop sharing, as lending rules require, then deleted",
    ),
]


def lift_guards(apps, schema_editor):
    from consents.db import drop_triggers

    drop_triggers(schema_editor.connection)


def lay_guards(apps, schema_editor):
    from consents.db import create_triggers

    create_triggers(schema_editor.connection)


def promise_in(body: str) -> tuple[int, str]:
    """The retention period a wording states, as days and plain words."""
    flat = " ".join(body.split())
    for phrase, days, summary in KNOWN_PROMISES:
        if phrase in flat:
            return days, summary
    return SIX_YEARS_DAYS, KNOWN_PROMISES[1][2]


def fill_retention(apps, schema_editor):
    ConsentText = apps.get_model("consents", "ConsentText")
    for text in ConsentText.objects.all():
        days, summary = promise_in(text.body)
        ConsentText.objects.filter(pk=text.pk).update(
            retention_days=days, retention_summary=summary
        )


class Migration(migrations.Migration):

    dependencies = [
        ('companies', '0002_pending_signup'),
        ('connections', '0004_connection_authorised_at'),
        ('consents', '0006_evidence_purge'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(lift_guards, lay_guards),
        migrations.AddField(
            model_name='consenttext',
            name='retention_days',
            field=models.PositiveIntegerField(default=0, help_text='Days the data read for this product is kept after its use ends, then deleted.'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='consenttext',
            name='retention_summary',
            field=models.CharField(default='', help_text='The same promise in plain words, as the wording puts it, e.g. "for 30 days".', max_length=200),
            preserve_default=False,
        ),
        migrations.RunPython(fill_retention, migrations.RunPython.noop),
        migrations.CreateModel(
            name='DeletionRecord',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('target', models.CharField(choices=[('connection', 'A connection and its data'), ('company', 'The company at Codat')], max_length=10)),
                ('codat_company_id', models.UUIDField()),
                ('codat_connection_id', models.UUIDField(blank=True, null=True)),
                ('platform_name', models.CharField(blank=True, max_length=100)),
                ('cause', models.CharField(choices=[('retention', 'Retention period ended'), ('customer', "The customer's own choice")], max_length=10)),
                ('deleted_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('promised_by', models.DateTimeField(blank=True, help_text="The date the promises set; empty for the customer's own.", null=True)),
                ('reason', models.TextField()),
                ('holds', models.JSONField(blank=True, default=list)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('company', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='companies.company')),
                ('connection', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='connections.connection')),
            ],
            options={
                'ordering': ['deleted_at'],
            },
        ),
        migrations.CreateModel(
            name='ScheduledDeletion',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('target', models.CharField(choices=[('connection', 'A connection and its data'), ('company', 'The company at Codat')], max_length=10)),
                ('codat_company_id', models.UUIDField()),
                ('delete_after', models.DateTimeField(db_index=True)),
                ('reason', models.TextField()),
                ('holds', models.JSONField(blank=True, default=list)),
                ('scheduled_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True)),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('done_at', models.DateTimeField(blank=True, null=True)),
                ('notified_at', models.DateTimeField(blank=True, null=True)),
                ('company', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='scheduled_deletions', to='companies.company')),
                ('connection', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='connections.connection')),
            ],
            options={
                'ordering': ['delete_after'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('connection__isnull', False), ('done_at__isnull', True)), fields=('connection',), name='scheduleddeletion_open_per_connection'), models.UniqueConstraint(condition=models.Q(('done_at__isnull', True), ('target', 'company')), fields=('codat_company_id',), name='scheduleddeletion_open_per_codat_company')],
            },
        ),
        migrations.RunPython(lay_guards, lift_guards),
    ]
