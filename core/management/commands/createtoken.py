"""Print a new API token for a user; only its digest is stored."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from core.models import User
from core.tokens import DEFAULT_TTL, token_create


def _expires(value: str):
    if value == "never":
        return None
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise CommandError(f"--expires takes a number of days (1 or more) or 'never', not {value!r}.")
    return timedelta(days=days)


class Command(BaseCommand):
    help = (
        "Create an API token for USERNAME (printed once, alone on the last line). It expires after "
        "SIGNOFF_TOKEN_TTL_DAYS (90) unless --expires says otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=User.Role.values, help="set the user's role")
        parser.add_argument("--create-user", action="store_true", help="create the user if missing")
        parser.add_argument(
            "--expires",
            "--expires-in-days",
            dest="expires",
            default=None,
            metavar="DAYS|never",
            help="days until the token expires, or 'never' (for a CI bot whose token is rotated by hand)",
        )
        parser.add_argument("--name", default="", help="what the token is for, shown on the user's tokens page")

    def handle(self, *args, username, role, create_user, expires, name, **options):
        expires_in = DEFAULT_TTL if expires is None else _expires(expires)
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
        label, token = token_create(user=user, name=name or "createtoken", expires_in=expires_in)
        expiry = label.token.expiry
        self.stderr.write(f"Token expires {expiry:%Y-%m-%d %H:%M} UTC." if expiry else "Token never expires.")
        self.stdout.write(token)
