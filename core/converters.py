"""The `<id:…>` path converter: a database id, so a number no column can hold is a 404, not a 500."""

from django.urls import register_converter

# SQLite and PostgreSQL bigint both stop at 2**63 - 1; a larger number reaching the driver raises
# OverflowError (a 500), so such a URL matches no route at all.
MAX_ID = 2**63 - 1


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_ID:
            raise ValueError(f"{value} is not a database id")
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


register_converter(IdConverter, "id")
