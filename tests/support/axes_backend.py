"""django-axes for the test suite: a call to authenticate() without a request (the test client's login()) skips
the lockout check instead of raising; production keeps axes' own backend, which refuses such calls."""

from axes.backends import AxesStandaloneBackend


class RequestOptionalAxesBackend(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
