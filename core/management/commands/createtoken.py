"""Print a new API token for a user; only its digest is stored."""
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from knox.models import AuthToken

from core.models import User


class Command(BaseCommand):
    help = "Create an API token for USERNAME (printed once, alone on the last line)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=User.Role.values, help="set the user's role")
        parser.add_argument("--create-user", action="store_true", help="create the user if missing")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, username, role, create_user, expires_in_days, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user {username!r}; pass --create-user to create one.")
            user = User(username=username, role=role or User.Role.REVIEWER)
            user.set_unusable_password()
            user.save()
            self.stderr.write(f"Created user {username} ({user.role}).")
        elif role and user.role != role:
            user.role = role
            user.save(update_fields=["role"])
            self.stderr.write(f"Set {username}'s role to {role}.")
        expiry = timedelta(days=expires_in_days) if expires_in_days else None
        _, token = AuthToken.objects.create(user=user, expiry=expiry)
        self.stdout.write(token)
