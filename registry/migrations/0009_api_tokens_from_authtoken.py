"""Existing DRF tokens (plain-text keys in authtoken_token) become hashed ApiToken rows, so every key
in use keeps working, and the plain-text rows are deleted: after this no key is readable from the
database or the admin."""

import hashlib

from django.db import migrations


def forwards(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("registry", "ApiToken")
    for token in Token.objects.all():
        ApiToken.objects.update_or_create(
            user_id=token.user_id,
            defaults={"prefix": token.key[:12], "key_hash": hashlib.sha256(token.key.encode()).hexdigest()},
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0008_api_tokens_hashed"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    # Backwards leaves the hashes: the plain keys cannot be recovered from them, which is the point.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
