"""OpenAI fine-tuning (the openai SDK), kept for its last weeks: new jobs until 2027-01-06 for the models the
catalog still lists as trainable, and existing fine-tunes served until their base model's shutdown date."""

from __future__ import annotations

from ftwizard.backends.base import ProviderCapabilities
from ftwizard.backends.hosted import JobProvider
from ftwizard.backends.hosted.job import OpenAIJob
from ftwizard.settings import PROVIDER_KEY_ENV


class OpenAIProvider(JobProvider):
    name = "openai"
    key_env = PROVIDER_KEY_ENV["openai"]
    base_url_env = "OPENAI_BASE_URL"
    capabilities = ProviderCapabilities(
        training="job", data_formats=("chat",), methods=("sft", "dpo"), weights_downloadable=False,
        serving="serverless",
        notes="self-serve fine-tuning winds down: no new jobs after 2027-01-06; gpt-4o / 4o-mini / 4.1 / 4.1-mini "
              "and their fine-tunes shut down 2027-01-14 (catalog dates)",
        wind_down=True)

    job_class = OpenAIJob
