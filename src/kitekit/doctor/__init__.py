"""``kitekit doctor``'s checks: each looks at one thing and says what it found and, when it is not green, the fix.

:mod:`~kitekit.doctor.local` reads only this machine (credentials, config files, folders, the pacer database,
the instruments cache); :mod:`~kitekit.doctor.remote` asks Kite or the simulator one question each (the session,
the clock, the static-IP rule). The CLI (``kitekit.cli.doctor_cmd``) runs them in order and prints a line each.
"""

from kitekit.doctor.findings import Finding, Status

__all__ = ["Finding", "Status"]
