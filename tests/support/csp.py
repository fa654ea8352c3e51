"""The Content-Security-Policy as a Chromium page sees it: every violation it reports, and the shape of a policy."""

import re
from typing import Any

# Every violation the page sees, whether the browser reports it as an event or only in the console.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile || "page"}:${e.lineNumber})`));
"""
CSP_CONSOLE = re.compile(r"Content Security Policy|Refused to", re.IGNORECASE)


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def assert_strict(policy: dict[str, list[str]], path: str) -> None:
    """Scripts from this site (and a nonce) only; nothing inline or evaluated; styles inline only by nonce."""
    script = policy["script-src"]
    assert script[0] == "'self'" and all(v.startswith("'nonce-") for v in script[1:]), (path, script)
    assert "'unsafe-inline'" not in policy["style-src"], (path, policy["style-src"])
    for directive, value in (
        ("default-src", ["'self'"]),
        ("object-src", ["'none'"]),
        ("base-uri", ["'self'"]),
        ("frame-ancestors", ["'none'"]),
        ("form-action", ["'self'"]),
    ):
        assert policy[directive] == value, (path, directive)
    assert policy["img-src"] == ["'self'", "data:"], path


class Violations:
    """What one page reports, across its navigations: the console messages stay with the page (so a violation after
    one check shows at the next), the `securitypolicyviolation` events with the document they happened in."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.context.add_init_script(RECORD_VIOLATIONS)
        page.on("console", lambda message: self.console.append(message.text))

    def take(self) -> list[str]:
        """The violations since the last call, and forget them."""
        found = [m for m in self.console if CSP_CONSOLE.search(m)]
        found += self.page.evaluate("window.__csp || []")
        self.console.clear()
        self.page.evaluate("window.__csp = []")
        return found
