"""The API docs pages, served from the installed package (drf-spectacular-sidecar) under the site's CSP."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace, csp_update
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

# Swagger UI runs under the site's policy as it is: the split view serves its settings as a script of their own
# (/api/docs/?script), and its template's inline <style> is a file (templates/api_docs/swagger_ui.html).
swagger_ui = SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs/swagger_ui.html")

# Redoc needs three things the site's policy refuses, allowed here only: its styled-components write <style>
# elements as its bundle loads, before any nonce could be handed to it ('unsafe-inline' styles; scripts stay
# 'self'); its search index runs in a worker made from a blob: URL; and its sidebar always shows Redocly's logo
# from their CDN (an image only; sent without a referrer, and hidden by Redoc when offline).
redoc = csp_update({"worker-src": [SELF, "blob:"], "img-src": ["https://cdn.redoc.ly"]})(
    csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(
        SpectacularRedocView.as_view(url_name="schema", template_name="api_docs/redoc.html")
    )
)
