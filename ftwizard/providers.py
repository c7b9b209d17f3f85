"""The hosted providers ftwizard trains on, named once, in the order it offers them.

Those that train open weights you can take home come first (the same model can then be served on your own GPU),
Azure next (it keeps fine-tuning OpenAI's models for longer), OpenAI last while its fine-tuning lives. A core
module with no imports: the CLI's parser reads it without loading the catalog.
"""

PROVIDER_ORDER = ("together", "tinker", "fireworks", "azure", "openai")
