SELECT {{ sql.literal(profile.warehouse.dsn) }} AS dsn, {{ sql.literal(profile.source) }} AS src;
