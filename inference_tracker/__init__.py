"""inference-tracker: measures Hugging Face Inference Providers and publishes the rows."""

__version__ = "0.1.0"
USER_AGENT = f"inference-tracker/{__version__}"


class ConfigError(Exception):
    """A setting or a file the user controls is wrong. The message is one line.

    Defined here, not in config.py, so the CLI can catch it without importing pydantic (which
    `tracker --help` does not need); config.py re-exports it.
    """
