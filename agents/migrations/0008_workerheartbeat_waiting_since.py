from django.db import migrations, models


class Migration(migrations.Migration):
    """`free_since` (a free slot without a break) becomes `waiting_since` (waiting for a task
    without taking one): free slots said nothing while a backlog waited in the broker, and
    the dispatcher sent thousands of tasks again that were not lost."""

    dependencies = [
        ("agents", "0007_run_waiting_index"),
    ]

    operations = [
        migrations.RenameField(model_name="workerheartbeat", old_name="free_since", new_name="waiting_since"),
        migrations.AlterField(
            model_name="workerheartbeat",
            name="waiting_since",
            field=models.DateTimeField(
                blank=True,
                help_text="Since when it has waited for a task without taking one (empty while it executes one).",
                null=True,
            ),
        ),
    ]
