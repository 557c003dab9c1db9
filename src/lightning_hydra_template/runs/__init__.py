"""A run's lifecycle and its files: building its objects, plan, checkpoint IO and safe loading, resume, summary."""
