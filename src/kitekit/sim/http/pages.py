"""HTML of the simulated Kite login pages (what a browser sees at ``/connect/login``)."""

from __future__ import annotations

from html import escape

__all__ = ["error_page", "login_page", "totp_page"]

_STYLE = (
    "body{font-family:sans-serif;max-width:26rem;margin:4rem auto;color:#222}"
    "input{display:block;width:100%;margin:.4rem 0 1rem;padding:.5rem}"
    "button{padding:.5rem 1.2rem}.err{color:#b00}.sim{background:#fff3cd;padding:.6rem;border-radius:4px}"
)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<p class='sim'>kitekit simulator &mdash; simulated data, not Zerodha.</p>"
        f"{body}</body></html>"
    )


def _hidden(fields: dict[str, str]) -> str:
    return "".join(f"<input type='hidden' name='{escape(k)}' value='{escape(v)}'>" for k, v in fields.items())


def login_page(api_key: str, redirect_params: str, user_hint: str, error: str = "") -> str:
    """Return the user id + password form."""
    err = f"<p class='err'>{escape(error)}</p>" if error else ""
    return _page(
        "Login - Kite (simulator)",
        f"<h1>Login to Kite</h1>{err}"
        "<form id='login' method='post' action='/connect/login'>"
        + _hidden({"api_key": api_key, "redirect_params": redirect_params})
        + f"<label>User ID<input name='user_id' value='{escape(user_hint)}' autocomplete='username'></label>"
        "<label>Password<input name='password' type='password' autocomplete='current-password'></label>"
        "<button type='submit'>Login</button></form>"
        "<form method='post' action='/connect/cancel'>"
        + _hidden({"api_key": api_key, "redirect_params": redirect_params})
        + "<button type='submit'>Cancel</button></form>",
    )


def totp_page(api_key: str, redirect_params: str, user_id: str, request_id: str, error: str = "") -> str:
    """Return the TOTP (external 2FA) form."""
    err = f"<p class='err'>{escape(error)}</p>" if error else ""
    return _page(
        "TOTP - Kite (simulator)",
        f"<h1>External TOTP</h1>{err}"
        "<form id='twofa' method='post' action='/connect/twofa'>"
        + _hidden(
            {
                "api_key": api_key,
                "redirect_params": redirect_params,
                "user_id": user_id,
                "request_id": request_id,
            }
        )
        + "<label>6-digit code<input name='twofa_value' inputmode='numeric'"
        " autocomplete='one-time-code'></label>"
        "<button type='submit'>Continue</button></form>",
    )


def error_page(message: str) -> str:
    """Return a page for a login error the browser user must see (bad api_key and the like)."""
    return _page("Error - Kite (simulator)", f"<h1>Error</h1><p class='err'>{escape(message)}</p>")
