"""Post-deploy smoke test: `python -m notejam.smoke --base-url http://notejam`.

Walks the main path as a user would (the Argo CD PostSync Job runs it): /readyz, sign up a throwaway
user, sign in, create a note, read it back, delete it. Exits 1 with a message saying which step failed.
Standard library only: the image carries no test dependencies.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class SmokeFailure(Exception):
    """One step of the walk did not do what it should."""


@dataclass
class Reply:
    status: int
    location: str
    body: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # every redirect is checked by the step that expects it


class Session:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirects()
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> Reply:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base_url + path, data=data)  # noqa: S310 - http(s) URL from the operator
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return Reply(response.status, response.headers.get("Location", ""), response.read().decode())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers.get("Location", ""), error.read().decode(errors="replace"))
        except (urllib.error.URLError, OSError) as error:
            raise SmokeFailure(f"cannot reach {self.base_url}{path}: {error}") from None

    def post_form(self, path: str, form: dict[str, str]) -> Reply:
        page = self.request(path)
        token = CSRF_FIELD.search(page.body)
        if page.status != 200 or not token:
            raise SmokeFailure(f"GET {path} returned {page.status} without a form")
        return self.request(path, {**form, "csrf_token": token.group(1)})


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def run(base_url: str, timeout: float = 10.0) -> list[str]:
    """Walk the app; return the steps done, or raise SmokeFailure."""
    session = Session(base_url, timeout)
    done: list[str] = []

    ready = session.request("/readyz")
    expect(ready.status == 200, f"/readyz returned {ready.status}: {ready.body[:200]}")
    done.append("readyz is 200")

    email = f"smoke-{secrets.token_hex(8)}@example.com"
    password = secrets.token_urlsafe(16)
    reply = session.post_form("/signup/", {"email": email, "password": password, "repeat_password": password})
    expect(reply.status == 302 and reply.location.endswith("/signin/"), f"sign up failed ({reply.status})")
    done.append(f"signed up {email}")

    reply = session.post_form("/signin/", {"email": email, "password": password})
    expect(
        reply.status == 302 and urllib.parse.urlsplit(reply.location).path == "/", f"sign in failed ({reply.status})"
    )
    done.append("signed in")

    name, text = f"smoke {secrets.token_hex(4)}", f"written by the smoke test {secrets.token_hex(8)}"
    reply = session.post_form("/notes/create/", {"name": name, "text": text, "pad": ""})
    expect(reply.status == 302, f"creating a note failed ({reply.status})")
    listing = session.request("/")
    found = re.search(r'<a href="/notes/(\d+)/">' + re.escape(name) + "</a>", listing.body)
    expect(found is not None, "the new note is not in the list of notes")
    note_path = f"/notes/{found.group(1)}/"  # type: ignore[union-attr]
    done.append(f"created {note_path}")

    view = session.request(note_path)
    expect(view.status == 200 and text in view.body, f"reading the note back failed ({view.status})")
    done.append("read it back")

    reply = session.post_form(note_path + "delete/", {})
    expect(reply.status == 302, f"deleting the note failed ({reply.status})")
    gone = session.request(note_path)
    expect(gone.status == 404, f"the deleted note still answers {gone.status}")
    done.append("deleted it")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notejam.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="where the app answers, e.g. http://notejam")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    args = parser.parse_args(argv)
    try:
        steps = run(args.base_url, args.timeout)
    except SmokeFailure as failure:
        print(f"SMOKE TEST FAILED against {args.base_url}: {failure}", file=sys.stderr)
        return 1
    for step in steps:
        print(f"ok: {step}")
    print(f"smoke test passed against {args.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
