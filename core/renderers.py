"""DRF's browsable API under the site's Content-Security-Policy."""

from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's HTML pages keep a few fixed style="" attributes in its templates (a float, a margin): these pages,
    and only these, allow style attributes. Their one <style> block (Pygments colours) carries the request's
    nonce instead (templates/rest_framework/api.html); scripts stay from this site only."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src-attr": ["'unsafe-inline'"]}
        return super().render(data, accepted_media_type, renderer_context)
