"""The database: models, connections, migrations, and the rows kept beside the items."""
