from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core.models import User


@admin.register(User)
class SignoffUserAdmin(UserAdmin):
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Signoff", {"fields": ("role",)}))
    list_display = ("username", "email", "role", "is_active")
    list_filter = ("role", "is_active")
