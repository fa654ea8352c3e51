"""What every app shares: the user with a role, and a base model with timestamps."""

from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models


class BaseModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class SignoffUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", User.Role.ADMIN)  # a superuser's role should say what it can do
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        DATA_SCIENTIST = "data_scientist", "Data scientist"
        REVIEWER = "reviewer", "Reviewer"
        APPROVER = "approver", "Approver"

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.REVIEWER)

    objects: ClassVar[SignoffUserManager] = SignoffUserManager()

    def has_role(self, *roles: str) -> bool:
        """Admins may do everything; everyone else only what their role allows."""
        if not self.is_active:
            return False
        return self.is_superuser or self.role == self.Role.ADMIN or self.role in roles


class TokenLabel(models.Model):
    """What knox's token row lacks for the person who owns it: a public id to revoke it by, and a name.

    knox's primary key is the token's digest, which is never shown; the key itself is shown once, at creation.
    knox records no last use, and recording one would add a write to every API request, so there is none."""

    token = models.OneToOneField("knox.AuthToken", on_delete=models.CASCADE, related_name="label")
    name = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return self.name or f"token {self.pk}"


class Heartbeat(models.Model):
    """When each background process last showed it was alive: one row per component, overwritten in place.

    The database is the store every process already shares (web, worker and beat, embedded or in containers);
    Django's cache is per process in the embedded default. /healthz and the admins' banner read it."""

    class Component(models.TextChoices):
        WORKER = "worker", "Worker"
        BEAT = "beat", "Beat"

    component = models.CharField(max_length=20, choices=Component.choices, primary_key=True)
    seen_at = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True)

    def __str__(self) -> str:
        return f"{self.component} seen at {self.seen_at:%Y-%m-%d %H:%M:%S} (pid {self.pid})"
