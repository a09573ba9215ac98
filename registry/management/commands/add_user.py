import sys
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.roles import Role
from registry.users import password_generate, user_upsert


class Command(BaseCommand):
    help = "Create a user with one or more roles, or update an existing user's roles."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            action="append",
            required=True,
            choices=[r.value.lower() for r in Role],
            help="Repeat for several roles. The user holds exactly these roles afterwards.",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--name", default="", help="Full name.")
        password = parser.add_mutually_exclusive_group()
        password.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
        password.add_argument(
            "--generate-password", action="store_true", help="Set a random password and print it once."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        roles = [Role(value.capitalize()) for value in options["role"]]
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        elif options["generate_password"]:
            password = password_generate()
        user, created = user_upsert(
            username=options["username"],
            roles=roles,
            email=options["email"],
            password=password,
            full_name=options["name"],
        )
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {user.username} with roles: {', '.join(r.value for r in roles)}")
        if options["generate_password"]:
            self.stdout.write(f"Password: {password}")
        elif created and password is None:
            self.stdout.write("No password set: use --generate-password, --password-stdin or `changepassword`.")
