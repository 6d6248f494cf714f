"""One kind of error for every failure a user can cause and fix, reported as one line."""

import functools
import sys


class UserError(Exception):
    """A failure the user can fix (bad config, missing file, unknown model...). The message says how."""


def exit_on_user_error(main):
    """Decorate a script's `main` so that a `UserError` ends it with `error: <message>` and exit status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper
