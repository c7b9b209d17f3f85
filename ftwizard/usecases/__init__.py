"""Use cases both faces call (the CLI and the wizard): each is one function over the engine, so `ftwizard run` and
the wizard's Train step start a run the same way."""
