"""Everything before a run starts: composing the config, resolvers, checks, one-line errors, secret masking."""
