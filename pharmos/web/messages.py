"""Messages raised by the services in English, listed here so the catalogs translate them.

The services stay free of presentation; the web layer translates their messages at
render time (pharmos.web.rendering.translate). Only fixed texts can be listed here.
"""

from __future__ import annotations


def N_(message: str) -> str:
    return message


SERVICE_MESSAGES = (
    N_("Invalid username or password."),
    N_("Enter the 6-digit code from your authenticator app."),
    N_("This account is locked. Ask an administrator to unlock it."),
    N_("Username is required."),
    N_("Password is required."),
    N_("Sign in to continue."),
    N_("Change your password to continue."),
    N_("The form has expired or did not come from this site (CSRF check). Reload the page."),
    N_("The form has errors."),
    N_("The user cannot be created."),
    N_("Username must be 3–64 characters: a–z, 0–9, '.', '_' or '-'."),
    N_("Full name is required (it is printed on signatures)."),
    N_("Not a valid e-mail address."),
    N_("Password must not be the same as the username."),
    N_("Already taken (usernames are never reused)."),
    N_("This username exists or existed before and cannot be reused."),
    N_("Already granted."),
    N_("A reason is required to deactivate a user."),
    N_("A reason is required to unlock an account."),
    N_("You cannot deactivate your own account."),
    N_("You cannot revoke your own administrator role."),
    N_("The current password is not correct."),
    N_("The new password must differ from the current one."),
    N_("The password was not changed."),
    N_("The two new passwords differ."),
    N_("The profile was not saved."),
    N_("The API token was not created."),
    N_("Give the token a name that says what uses it."),
    N_("Choose at least one permission."),
    N_("Expiry must be between 1 and 730 days."),
    N_("Start the enrolment first."),
    N_("That code is not valid. Check the time on your phone and try again."),
    N_("MFA is already enabled; disable it first to enrol a new device."),
    N_("The password is not correct."),
    N_("The setting was not drafted."),
    N_("Use a dotted lower-case key such as deviation.due_days.minor."),
    N_("A value is required."),
    N_("At most 2000 characters."),
    N_("A reason for this change is required."),
    N_("A reason for the change is required."),
    N_("Re-enter your password to sign."),
    N_("Signature refused: the password is not correct."),
    N_("Change your temporary or expired password before signing."),
    N_("Password change required before signing."),
    N_("The setting has no value yet."),
    N_("Needs an electronic signature by a person."),
    N_("The filter has errors."),
    N_("Use a date and time such as 2026-03-11 08:30."),
    N_("'until' is before 'since'."),
    N_("The author of a record cannot approve or release it."),
    N_("You signed this record as its author, so you cannot approve or release it."),
    N_("Signature manifest altered or moved from another record."),
    N_("Record changed after signing."),
    N_("The sign-in step has expired or is not valid. Enter your username and password again."),
    N_("Not Found"),
    N_("Method Not Allowed"),
)

# Service messages that carry values: the pattern finds the values, the msgid is translated
# and the values are put back in.
PATTERNED_MESSAGES = (
    (r"Not possible from state '(?P<state>[^']+)'\.", N_("Not possible from state '%(state)s'.")),
    (r"The transition '(?P<name>[^']+)' needs more input\.", N_("The transition '%(name)s' needs more input.")),
    (r"Requires the permission (?P<permission>[\w.]+)\.", N_("Requires the permission %(permission)s.")),
    (r"You do not have the permission (?P<permission>[\w.]+)\.",
     N_("You do not have the permission %(permission)s.")),
    (r"Password must be at least (?P<count>\d+) characters\.", N_("Password must be at least %(count)s characters.")),
    (r"(?P<user>\S+) already holds the role (?P<role>\S+)\.", N_("%(user)s already holds the role %(role)s.")),
    (r"(?P<user>\S+) does not hold the role (?P<role>\S+)\.", N_("%(user)s does not hold the role %(role)s.")),
    (r"System administration and QA approval rights cannot be held by the same user "
     r"\(would hold (?P<admin>.+) and (?P<qa>.+)\)\.",
     N_("System administration and QA approval rights cannot be held by the same user "
        "(would hold %(admin)s and %(qa)s).")),
    (r"Unknown role '(?P<role>[^']+)'\.", N_("Unknown role '%(role)s'.")),
    (r"No user named '(?P<user>[^']+)'\.", N_("No user named '%(user)s'.")),
    (r"(?P<number>\S+) is (?P<state>\S+); only drafts can be edited \(draft a new version\)\.",
     N_("%(number)s is %(state)s; only drafts can be edited (draft a new version).")),
)
