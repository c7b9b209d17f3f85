"""The run-directory contract: the files a run holds (`directory`), whether its worker lives (`liveness`)."""
