"""Users, roles, permissions, sessions, API tokens and MFA."""
