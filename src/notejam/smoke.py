"""Post-deploy smoke test: `python -m notejam.smoke --base-url http://notejam`.

Walks the main path as a user would (the Argo CD PostSync Job runs it after every sync, self-heals included):
/readyz, sign in with the smoke account, create a note, read it back, delete it. It leaves nothing behind: one
account, created on the first run only, with the credentials of Secret `notejam-smoke` (SMOKE_EMAIL,
SMOKE_PASSWORD); its notes are deleted, those of an earlier run that died half-way included.
Exits 1 with a message saying which step failed, 2 when the credentials are missing.
Standard library only, besides the package's own settings: the image carries no test dependencies.
"""

from __future__ import annotations

import argparse
import html
import http.cookiejar
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from notejam.config import ConfigError, smoke_account

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# Every note the smoke test writes is named so; one with this name is never a user's (the account is ours).
NOTE_PREFIX = "smoke test note"
NOTE_LINK = re.compile(r'<a href="(/notes/\d+/)">' + re.escape(NOTE_PREFIX) + r"[^<]*</a>")


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


def sign_in(session: Session, email: str, password: str) -> bool:
    reply = session.post_form("/signin/", {"email": email, "password": password})
    if reply.status == 302 and urllib.parse.urlsplit(reply.location).path == "/":
        return True
    expect(reply.status == 200, f"sign in answered {reply.status}")
    return False


def create_account(session: Session, email: str, password: str) -> None:
    reply = session.post_form("/signup/", {"email": email, "password": password, "repeat_password": password})
    if reply.status == 200 and "already signed up" in reply.body:
        raise SmokeFailure(f"{email} exists but does not take the password of Secret notejam-smoke")
    expect(reply.status == 302 and reply.location.endswith("/signin/"), f"creating the account failed ({reply.status})")


def delete_note(session: Session, note_path: str) -> None:
    reply = session.post_form(note_path + "delete/", {})
    expect(reply.status == 302, f"deleting {note_path} failed ({reply.status})")
    gone = session.request(note_path)
    expect(gone.status == 404, f"the deleted note {note_path} still answers {gone.status}")


def run(base_url: str, email: str, password: str, timeout: float = 10.0) -> list[str]:
    """Walk the app as the smoke account; return the steps done, or raise SmokeFailure."""
    session = Session(base_url, timeout)
    done: list[str] = []

    ready = session.request("/readyz")
    expect(ready.status == 200, f"/readyz returned {ready.status}: {ready.body[:200]}")
    done.append("readyz is 200")

    if not sign_in(session, email, password):
        create_account(session, email, password)  # the first run in this environment
        done.append(f"created the smoke account {email}")
        expect(sign_in(session, email, password), "sign in failed with the account just created")
    done.append(f"signed in as {email}")

    listing = session.request("/")
    expect(listing.status == 200, f"the list of notes answered {listing.status}")
    for leftover in NOTE_LINK.findall(listing.body):  # a run that died between writing and deleting
        delete_note(session, leftover)
        done.append(f"deleted {leftover}, left by an earlier run")

    name, text = f"{NOTE_PREFIX} {secrets.token_hex(4)}", f"written by the smoke test {secrets.token_hex(8)}"
    reply = session.post_form("/notes/create/", {"name": name, "text": text, "pad": ""})
    expect(reply.status == 302, f"creating a note failed ({reply.status})")
    listing = session.request("/")
    found = re.search(r'<a href="(/notes/\d+/)">' + re.escape(html.escape(name)) + "</a>", listing.body)
    expect(found is not None, "the new note is not in the list of notes")
    note_path = found.group(1)  # type: ignore[union-attr]
    done.append(f"created {note_path}")
    try:
        view = session.request(note_path)
        expect(view.status == 200 and text in view.body, f"reading the note back failed ({view.status})")
        done.append("read it back")
    finally:
        delete_note(session, note_path)  # also when reading failed: nothing is left behind
    done.append("deleted it")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notejam.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="where the app answers, e.g. http://notejam")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    parser.epilog = "The account's credentials come from the environment: SMOKE_EMAIL and SMOKE_PASSWORD."
    args = parser.parse_args(argv)
    try:
        email, password = smoke_account()
    except ConfigError as error:
        print(f"SMOKE TEST NOT RUN: {error}", file=sys.stderr)
        return 2
    try:
        steps = run(args.base_url, email, password, args.timeout)
    except SmokeFailure as failure:
        print(f"SMOKE TEST FAILED against {args.base_url}: {failure}", file=sys.stderr)
        return 1
    for step in steps:
        print(f"ok: {step}")
    print(f"smoke test passed against {args.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
