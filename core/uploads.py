"""Upload handlers that read large request bodies in 1 MiB pieces instead of Django's 64 KiB.

Django's multipart parser walks every piece through several Python layers, and 1 MiB pieces are 16 times fewer (figures:
docs/bench-ingest.md, "Figures the code's comments point to"). Small bodies are unaffected: they stay in memory below
FILE_UPLOAD_MAX_MEMORY_SIZE as before."""

from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler

CHUNK_SIZE = 1024 * 1024


class MemoryUploadHandler(MemoryFileUploadHandler):
    chunk_size = CHUNK_SIZE


class TemporaryUploadHandler(TemporaryFileUploadHandler):
    chunk_size = CHUNK_SIZE
