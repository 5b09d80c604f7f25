"""People and their access: users, roles, departments, API tokens."""
