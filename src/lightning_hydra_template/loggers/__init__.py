"""Logger factories for what a plain ``_target_`` cannot configure (no prompts, resumable files)."""
