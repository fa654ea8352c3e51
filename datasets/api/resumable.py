"""tus 1.0.0 endpoints: create a resumable upload, ask its offset, send bytes, give it up.

The upload's URL is also its status URL: GET answers the JSON status as for any background upload."""

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError, NotFoundError
from core.permissions import IsDataScientist
from datasets.models import Upload
from datasets.services.resumable import (
    TUS_VERSION,
    parse_metadata,
    resumable_append,
    resumable_create,
    resumable_delete,
    resumable_offset,
)

TUS_HEADERS = [
    OpenApiParameter("Tus-Resumable", OpenApiTypes.STR, OpenApiParameter.HEADER, description="1.0.0"),
]


class TusResponseMixin(APIView):
    """tus headers on every answer; another tus version refused. An APIView, so super() is one to the checker."""

    error_statuses = (412, 413)  # a tus version other than ours; a length over the limit (core/schema.py)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        response["Cache-Control"] = "no-store"  # an offset must never come from a cache
        return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        version = request.headers.get("Tus-Resumable")
        if request.method != "OPTIONS" and request.method != "GET" and version and version != TUS_VERSION:
            raise ApplicationError(f"Only tus {TUS_VERSION} is spoken here.", code="tus_version", status=412)


class ResumableUploadCreateView(TusResponseMixin, APIView):
    permission_classes = [IsDataScientist]

    @extend_schema(exclude=True)
    def options(self, request, *args, **kwargs):
        return Response(
            status=status.HTTP_204_NO_CONTENT,
            headers={
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": "creation,termination",
                "Tus-Max-Size": str(settings.SIGNOFF_MAX_UPLOAD_BYTES),
            },
        )

    @extend_schema(
        summary="Create a resumable upload (tus 1.0.0 creation)",
        description="Headers: `Upload-Length` (bytes) and `Upload-Metadata` with base64 values: `kind` (dataset_version or "
        "prediction_set), `filename`, and the target: `dataset` for a dataset version; `model`, `version`, "
        "`dataset`, `dataset_version` for predictions. Answers 201 with `Location`: PATCH bytes there, HEAD for "
        "the offset, GET for the status once all bytes are in.",
        request=None,
        parameters=[
            *TUS_HEADERS,
            OpenApiParameter("Upload-Length", OpenApiTypes.INT, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Upload-Metadata", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
        ],
        responses={201: OpenApiResponse(description="created; see the Location header")},
    )
    def post(self, request):
        try:
            length = int(request.headers.get("Upload-Length", ""))
        except ValueError:
            raise ApplicationError("Upload-Length must be the file's size in bytes.", code="invalid_length") from None
        upload = resumable_create(
            length=length, metadata=parse_metadata(request.headers.get("Upload-Metadata", "")), created_by=request.user
        )
        url = reverse("api:upload-detail", args=[upload.pk])
        return Response(status=status.HTTP_201_CREATED, headers={"Location": url, "Upload-Offset": "0"})


def own_upload(request, pk) -> Upload:
    upload = Upload.objects.filter(pk=pk).first()
    if upload is None or not (upload.created_by_id == request.user.pk or request.user.has_role()):
        raise NotFoundError("No such upload.", code="upload_not_found")
    return upload


class ResumableUploadMixin(TusResponseMixin):
    """HEAD, PATCH and DELETE of tus on an upload's URL."""

    @extend_schema(
        summary="Where to resume a resumable upload (tus HEAD)",
        parameters=TUS_HEADERS,
        responses={200: OpenApiResponse(description="Upload-Offset and Upload-Length headers")},
    )
    def head(self, request, pk):
        upload = own_upload(request, pk)
        return Response(
            status=status.HTTP_200_OK,
            headers={
                "Upload-Offset": str(resumable_offset(upload=upload)),
                "Upload-Length": str(upload.bytes_total),
            },
        )

    @extend_schema(
        summary="Send bytes of a resumable upload (tus PATCH)",
        request={"application/offset+octet-stream": OpenApiTypes.BINARY},
        parameters=[
            *TUS_HEADERS,
            OpenApiParameter("Upload-Offset", OpenApiTypes.INT, OpenApiParameter.HEADER, required=True),
        ],
        responses={204: OpenApiResponse(description="accepted; Upload-Offset says how many bytes are in")},
    )
    def patch(self, request, pk):
        upload = own_upload(request, pk)
        if request.content_type != "application/offset+octet-stream":
            raise ApplicationError(
                "Send bytes as application/offset+octet-stream.", code="unsupported_media_type", status=415
            )
        try:
            offset = int(request.headers.get("Upload-Offset", ""))
        except ValueError:
            raise ApplicationError(
                "Upload-Offset must be the number of bytes already sent.", code="invalid_offset"
            ) from None
        new_offset = resumable_append(upload=upload, offset=offset, stream=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT, headers={"Upload-Offset": str(new_offset)})

    @extend_schema(
        summary="Give up a resumable upload (tus termination)", parameters=TUS_HEADERS, responses={204: None}
    )
    def delete(self, request, pk):
        resumable_delete(upload=own_upload(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
