"""Platform core: configuration, database, clock, errors, numbering."""
